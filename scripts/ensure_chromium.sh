#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright cannot download its own
# browser here). Install it when it is missing and we can; under CI=true a
# missing browser fails the run instead of letting the e2e tests skip.
set -u
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: installing Debian's chromium for the browser tests (about a minute)..."
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1
  fi
fi
if [ -x "$CHROMIUM" ]; then
  echo "ensure_chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) is installed."
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "ensure_chromium: $CHROMIUM is missing and could not be installed; the browser tests cannot run (CI=true)." >&2
  exit 1
fi
echo "ensure_chromium: $CHROMIUM is missing; the browser tests will be skipped (install it with: apt-get install -y chromium)." >&2
exit 0
