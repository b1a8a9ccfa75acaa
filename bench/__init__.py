"""Benchmark harness for the Keras models in `models/`.

`pytest bench/` runs the suites (bench/test_*.py); `python -m bench` holds the
command-line tools. docs/architecture.md maps the modules. Nothing here imports
Keras at import time: the backend must be chosen first.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout: models/, results/, the git history
