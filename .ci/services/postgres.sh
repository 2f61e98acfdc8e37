# The storage tests start a throwaway PostgreSQL server (tests/pg_support.py) from Debian's binaries.
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; } >/dev/null 2>&1 || true
