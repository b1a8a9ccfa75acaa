"""Loads the benchmark plugin for `pytest bench/` and `pytest` (tests/).

The plugin imports no Keras at import time, so the backend can still be chosen.
"""

pytest_plugins = ["bench.plugin"]
