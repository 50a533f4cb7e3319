#!/usr/bin/env bash
# The one command for tests: sets up .venv (with pytest) and Debian's Chromium (page tests), then runs the suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIGIL_REQUIREMENTS=requirements-dev.txt bash "$root/scripts/venv.sh"
if [ ! -x /usr/bin/chromium ]; then
  echo "vigil: installing Debian's chromium for the page tests..." >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
fi
cd "$root"
exec "$root/.venv/bin/python" -m pytest -q "$@"
