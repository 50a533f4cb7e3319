#!/usr/bin/env bash
# The one command for tests: sets up .venv (with pytest), Debian's Chromium (page tests) and Debian's mosquitto (MQTT
# sink tests), then runs the suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIGIL_REQUIREMENTS=requirements-dev.txt bash "$root/scripts/venv.sh"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The MQTT tests start their own broker on a free port per test; a mosquitto service that apt may start is unused.
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
if [ ${#missing[@]} -gt 0 ]; then
  echo "vigil: installing Debian's ${missing[*]} for the tests..." >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cd "$root"
exec "$root/.venv/bin/python" -m pytest -q "$@"
