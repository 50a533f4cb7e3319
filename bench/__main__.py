"""`python -m bench` is `run.py bench`."""
import sys

from run import main

sys.exit(main(["bench", *sys.argv[1:]]))
