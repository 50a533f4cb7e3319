"""`python -m bench [options]` is `run.py bench [options]`: every command line of Vigil is parsed in run.py, and
bench imports nothing above it, so the command is handed on to run.py in this same process (exec)."""
import os
import sys
from pathlib import Path

run = Path(__file__).resolve().parents[1] / "run.py"
os.execv(sys.executable, [sys.executable, str(run), "bench", *sys.argv[1:]])
