# The web review page is tested in a real browser: Debian's headless Chromium and its chromedriver.
{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver;
} >/dev/null 2>&1 || true
