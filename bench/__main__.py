"""`python -m bench COMMAND`: the harness's command-line tools."""

import sys

COMMANDS = {
    "compare": "bench.compare",
    "overhead": "bench.overhead",
    "report": "bench.report",
    "sweep": "bench.sweep",
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        got = argv[0] if argv else ""
        print(f"usage: python -m bench {{{','.join(COMMANDS)}}} ...; unknown command {got!r}", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
