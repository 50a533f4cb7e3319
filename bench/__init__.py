"""Vigil's benchmark suite: `python -m bench` (or `run.py bench`). Prints a markdown table, writes JSON and keeps
the latest table in bench/RESULTS.md. Benchmarks print figures; tests assert behaviour."""
