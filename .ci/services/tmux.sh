# The review session is also tested in a real terminal multiplexer.
command -v tmux >/dev/null || { apt-get update -qq && apt-get install -y -qq tmux; } >/dev/null 2>&1 || true
