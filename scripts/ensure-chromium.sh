#!/bin/sh
# The browser tests (tests/e2e) drive Debian's /usr/bin/chromium through Playwright (never
# `playwright install`). `make test` runs this first: when the browser is missing it installs the
# `chromium` package as root or with passwordless sudo; otherwise it stops with the command to run.
set -eu

CHROMIUM=/usr/bin/chromium
INSTALL="apt-get update && apt-get install -y --no-install-recommends chromium"

[ -x "$CHROMIUM" ] && exit 0

fail() {
  echo "make test: the browser tests need $CHROMIUM, which is missing; $1" >&2
  exit 1
}

if ! command -v apt-get >/dev/null 2>&1; then
  fail "install Chromium with this system's package manager so that $CHROMIUM exists, then run make test again."
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root="sudo -n"
else
  fail "install it with: sudo sh -c '$INSTALL'"
fi

echo "make test: installing Debian's chromium for the browser tests (apt-get)"
$as_root apt-get update -qq
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x "$CHROMIUM" ] || fail "apt-get installed chromium but $CHROMIUM is still missing; install it with: sudo sh -c '$INSTALL'"
echo "make test: $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed"
