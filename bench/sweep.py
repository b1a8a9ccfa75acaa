"""`python -m bench sweep --backends tensorflow,jax,torch -- <pytest args>`

Keras fixes its backend per process, so the sweep runs one `pytest bench/`
process per backend, each leaving its own run in the results directory, and
reports the backends that are not installed with the command that installs
them. Then `python -m bench compare --by backend RUN...` sets them side by side.
Exit codes: 0 every installed backend's session passed, 1 one failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench import backends
from bench.options import OptionError, parse_one

ROOT = Path(__file__).resolve().parent.parent


def parse_backends(text: str) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",")]
    for name in names:
        parse_one("--backends", backends.BACKEND_NAMES)(name)
    return tuple(dict.fromkeys(names))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m bench sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(backends.BACKEND_NAMES),
                        help="comma list of tensorflow, jax, torch (default: all three)")
    args, unknown = parser.parse_known_args(own)
    try:
        if unknown:
            raise OptionError(f"unknown argument {unknown[0]!r}; pytest's arguments go after --")
        chosen = parse_backends(args.backends)
        if any(a == "--backend" or a.startswith("--backend=") for a in pytest_args):
            raise OptionError("--backend after --: the sweep sets each backend itself; use --backends")
    except OptionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        if not backends.is_installed(name):
            print(f"sweep: {name} is not installed, skipped; install it with: {backends.INSTALL_HINTS[name]}")
            continue
        print(f"sweep: {name}", flush=True)
        command = [sys.executable, "-m", "pytest", str(ROOT / "bench"), f"--backend={name}", *pytest_args]
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(name)
    if failed:
        print(f"sweep: the session failed for {', '.join(failed)}")
        return 1
    return 0
