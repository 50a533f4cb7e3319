"""Scoring Vigil on streaming benchmarks (StreamingBench, OVO-Bench): their files, the harness that asks each
question at its time, and the scores as their own scripts count them."""
