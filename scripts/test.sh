#!/usr/bin/env bash
# The one command for tests: sets up .venv (with pytest), then runs the whole suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIGIL_REQUIREMENTS=requirements-dev.txt bash "$root/scripts/venv.sh"
cd "$root"
exec "$root/.venv/bin/python" -m pytest -q "$@"
