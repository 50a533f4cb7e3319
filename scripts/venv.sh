#!/usr/bin/env bash
# Create or refresh .venv so that it matches the requirements files. Sourced by ./vigil and scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
reqs="$root/${VIGIL_REQUIREMENTS:-requirements.txt}"
stamp="$venv/.requirements.sha256"      # one line per requirements set installed as they are now
hash_of() { cat "$root/requirements.txt" "$1" | sha256sum | cut -d' ' -f1; }
want="$(hash_of "$reqs")"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! grep -qx "$want" "$stamp" 2>/dev/null; then
  echo "vigil: installing dependencies into .venv (first run only)..." >&2
  # torch first and pinned: a bare 'torch' requirement elsewhere must not pull the CUDA build.
  "$venv/bin/pip" install -q torch==2.13.0
  "$venv/bin/pip" install -q -r "$reqs"
  # The dev requirements include the runtime ones, so both sets are now satisfied.
  { echo "$want"; hash_of "$root/requirements.txt"; } >> "$stamp"
fi
