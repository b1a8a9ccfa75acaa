"""Benchmark harness for the Keras models in `models/`.

`pytest bench/` runs the suites; `python -m bench` holds the command-line tools.
Nothing here imports Keras at import time: the backend must be chosen first.
"""
