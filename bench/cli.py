"""`python -m bench COMMAND`: the harness's command-line tools, as one argparse program.

    ab        the regression gate: BASE and HEAD checkouts timed side by side in paired workers
    compare   did the candidate runs get slower than the baseline runs? (--by: side-by-side views)
    report    the runs as plots and pages
    sweep     one `pytest bench/` session per Keras backend
    overhead  does the harness add anything to what it measures?
    noise     where this machine's timing noise comes from, for the gate
    history   every run of the stores as series over commits, their change points, a dashboard
    bisect    the first commit where a model or case got slower, by the gate on midpoints

Exit codes: 0 done, 1 a regression (ab, compare, history) or a failed session (sweep), 2 bad input
or nothing to judge, 3 an internal error. A bad input is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


import models
from bench import backends, bisection, history, noise, store
from bench.ab import DEFAULT_THRESHOLD
from bench.options import MODES
from bench.output.tables import FORMATS, render
from bench.parsers import (OptionError, choice_list, parse_alpha, parse_budget, parse_one, parse_one_device,
                           parse_threads, parse_threshold, positive_integer, positive_number, typed)
from bench.profiles import PROFILES


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option prints one line (no usage block) and exits 2."""

    def error(self, message):
        # A validator's message already names its option: "argument --x: --x: ..." becomes "--x: ...".
        message = re.sub(r"^argument (\S+): \1: ", r"\1: ", message)
        self.exit(2, f"error: {message}\n")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    _add_ab(commands.add_parser("ab", help="the regression gate: base against head, in paired workers"))
    _add_compare(commands.add_parser("compare", help="baseline against candidate, or side by side (--by)"))
    _add_report(commands.add_parser("report", help="plots and pages of runs"))
    _add_sweep(commands.add_parser("sweep", help="one benchmark session per Keras backend"))
    _add_overhead(commands.add_parser("overhead", help="the harness's median against a bare timing loop"))
    noise.add_arguments(commands.add_parser("noise", help="where this machine's timing noise comes from"))
    history.add_arguments(commands.add_parser("history", help="series over commits, change points, a dashboard"))
    bisection.add_arguments(commands.add_parser("bisect", help="the first commit that got slower, by the gate"))
    return parser


def _add_ab(parser):
    parser.description = ("BASE HEAD: checkouts of this project (directories or git refs). Starts a worker in "
                          "each, times every case in alternating short blocks, side by side in time, over fresh "
                          "worker pairs, and judges every case and model; the harness's arguments go after --. "
                          "Exit 1 on a regression or a case that fails or is missing in HEAD.")
    parser.add_argument("base", metavar="BASE", help="the baseline: a checkout's directory or a git ref")
    parser.add_argument("head", metavar="HEAD", help="the candidate: a checkout's directory or a git ref")
    parser.add_argument("--budget", type=typed(parse_budget), default=15.0, metavar="MINUTES",
                        help="wall-clock minutes to spend, both collections and all worker pairs together (default: 15)")
    _add_decision_options(parser, threshold=DEFAULT_THRESHOLD)
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="an empty directory for the runs, logs and verdicts (default: results/ab/<UTC time>)")
    parser.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="the harness's arguments, for both sides")
    parser.set_defaults(handler=ab)


def _add_decision_options(parser, *, threshold: float):
    parser.add_argument("--threshold", type=typed(parse_threshold), default=threshold, metavar="PERCENT",
                        help=f"smallest change of the median that counts (default: {threshold * 100:g}%%)")
    parser.add_argument("--alpha", type=typed(parse_alpha), default=0.01, metavar="P",
                        help="chance of any false alarm over all the cases and models (Holm-adjusted; "
                        "default: 0.01)")


def _add_compare(parser):
    parser.description = ("BASELINE CANDIDATE: each a run CSV or a results directory (its newest run). "
                          "--by device RUN: GPU/CPU speedup within one run; --by backend|host RUN...: "
                          "the same cases side by side. Exit 1 when a case got slower.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run CSVs or results directories")
    parser.add_argument("--by", choices=("device", "backend", "host"), default=None,
                        help="side-by-side views instead of baseline against candidate")
    parser.add_argument("--baseline-run", metavar="RUN_ID", help="pick this run in the BASELINE directory")
    parser.add_argument("--candidate-run", metavar="RUN_ID", help="pick this run in the CANDIDATE directory")
    parser.add_argument("--runs", type=typed(positive_integer("--runs", "3")), default=1, metavar="N",
                        dest="runs_per_side", help="the newest N runs of each directory, each a replicate (default: 1, which "
                        "decides nothing: one run is one sample of the run-to-run noise)")
    _add_decision_options(parser, threshold=0.10)  # one run a side, or a few: the process noise is larger
    parser.add_argument("--normalize", action="store_true",
                        help="scale each case's time by its own device's calibration (the measured matmul peak at the "
                             "row's precision), so that machines of different speed compare")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.set_defaults(handler=compare)


def _add_report(parser):
    parser.description = "Writes report.md, a self-contained report.html and the PNG plots of the runs."
    parser.add_argument("runs", nargs="*", default=["results"], metavar="RUN",
                        help="run CSVs or directories of runs (a directory: every run in it; default: results)")
    parser.add_argument("--out", default="report", metavar="DIR", help="where to write the report (default: report)")
    parser.set_defaults(handler=report)


def _add_sweep(parser):
    parser.description = ("One `pytest bench/` session per backend (Keras fixes its backend per process); "
                          "pytest's arguments go after --. Exit 1 when a session failed.")
    parser.add_argument("--backends", type=typed(choice_list("--backends", backends.BACKEND_NAMES)),
                        default=backends.BACKEND_NAMES, help="comma list of tensorflow, jax, torch (default: all three)")
    parser.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="arguments for each session")
    parser.set_defaults(handler=sweep)


def _add_overhead(parser):
    parser.description = ("Times one case alternately through a real `pytest bench/` session and a bare loop "
                          "over the same compiled call, each in a fresh process; prints the median pair ratio.")
    parser.add_argument("--model", type=typed(parse_one("--model", tuple(models.names()))), default="mnist_cnn",
                        help="one model (default: mnist_cnn)")
    parser.add_argument("--mode", type=typed(parse_one("--mode", tuple(m for m in MODES if m != "predict"))),
                        default="infer", help="forward, infer or train (default: infer)")
    parser.add_argument("--batch-size", type=typed(positive_integer("--batch-size", "32")), default=32,
                        help="a positive integer (default: 32)")
    parser.add_argument("--device", type=typed(parse_one_device), default="cpu", help="cpu or gpu:N (default: cpu)")
    parser.add_argument("--backend", type=typed(parse_one("--backend", backends.BACKEND_NAMES)), default=None,
                        help="tensorflow, jax or torch (default: $KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--repeats", type=typed(positive_integer("--repeats", "5")), default=5,
                        help="harness/bare pairs to alternate (default: 5)")
    parser.add_argument("--profile", type=typed(parse_one("--profile", tuple(PROFILES))), default="full",
                        help="the harness profile (default: full, for many rounds)")
    parser.add_argument("--threads", type=typed(parse_threads), default=None,
                        help="CPU thread pools on both sides: auto, N or INTRA,INTER (default: auto)")
    parser.add_argument("--bare-loop-rounds", type=typed(positive_integer("rounds", "100")), default=None,
                        help=argparse.SUPPRESS)  # the child process's job
    parser.set_defaults(handler=overhead)


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # What follows the first -- is pytest's (ab, sweep), taken here: argparse cannot give a list
    # positional the words after -- once the positionals before it have matched.
    passed_on = argv[argv.index("--") + 1:] if "--" in argv else None
    argv = argv[:argv.index("--")] if "--" in argv else argv
    try:
        args, unknown = parser.parse_known_args(argv)
        if passed_on is not None:
            if not hasattr(args, "pytest_args"):
                parser.error(f"unknown argument '--': {args.command} takes no pytest arguments")
            args.pytest_args = [*args.pytest_args, *passed_on]
        if unknown:
            after = "; pytest's arguments go after --" if args.command in ("sweep", "ab", "noise", "bisect") else ""
            parser.error(f"unknown argument {unknown[0]!r}{after}")
    except SystemExit as exit_:  # the parser printed its one line (or the help)
        return 2 if exit_.code else 0
    try:
        return args.handler(args)
    except (store.RunFileError, OptionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # not the user's mistake: never exit 1, which reads as "a regression"
        print(f"internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return 3


def ab(args) -> int:
    from datetime import datetime, timezone

    from bench import ab as gate

    out = Path(args.out) if args.out else Path("results") / "ab" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out: {args.out!r} exists and is not a directory")
    return gate.main(args.base, args.head, args.pytest_args, out=out, budget_min=args.budget,
                     threshold=args.threshold, alpha=args.alpha,
                     say=lambda line: print(line, flush=True))  # progress shows as it happens, also through tee


def compare(args) -> int:
    import pandas as pd

    from bench.analysis import gate, views
    from bench.output.verdicts import verdict_lines

    if args.by == "device":
        if len(args.runs) != 1:
            raise store.RunFileError(f"--by device takes one run; got {len(args.runs)}")
        print(render(views.by_device(store.load(store.resolve(args.runs[0]))), args.format))
        return 0
    if args.by in ("backend", "host"):
        loaded = [store.load(store.resolve(text)) for text in args.runs]
        print(render(views.side_by_side(loaded, args.by), args.format))
        return 0
    if len(args.runs) != 2:
        raise store.RunFileError(f"compare takes BASELINE and CANDIDATE; got {len(args.runs)} runs "
                                 "(use --by backend or --by host for more)")
    if args.runs_per_side > 1 and (args.baseline_run or args.candidate_run):
        raise store.RunFileError("--runs pools a directory's newest runs: it cannot be combined with a named run")
    sides = {"base": (args.runs[0], args.baseline_run), "head": (args.runs[1], args.candidate_run)}
    frames = []
    for side, (text, run_id) in sides.items():
        paths = [store.resolve(text, run_id)] if args.runs_per_side == 1 else store.resolve_many(text, args.runs_per_side)
        for number, path in enumerate(paths, 1):
            frames.append(_process_values(path, normalize=args.normalize).assign(side=side, process=f"{side}{number}"))
    values = pd.concat(frames, ignore_index=True)
    backends_ = {side: sorted(values.loc[values["side"] == side, "backend"].unique()) for side in sides}
    if backends_["base"] != backends_["head"]:
        raise store.RunFileError(f"runs of different backends ({', '.join(backends_['base'])} against "
                                 f"{', '.join(backends_['head'])}): compare them with --by backend")
    verdicts = gate.judge(values, threshold=args.threshold, alpha=args.alpha)
    if verdicts.cases.empty:
        raise store.RunFileError(f"no case ran ok in both {args.runs[0]} and {args.runs[1]}")
    if args.format != "csv":
        print(f"baseline {args.runs[0]} | candidate {args.runs[1]} | {args.runs_per_side} run(s) a side | "
              f"threshold {args.threshold:.0%} | alpha {args.alpha}"
              + (" | normalized by calibration" if args.normalize else ""))
        if args.runs_per_side == 1:
            print("note: one run a side is one replicate of the run-to-run noise: no case can be decided. "
                  "Compare directories of several runs with --runs N (N >= 3), or run `python -m bench ab`")
    print("\n".join(verdict_lines(verdicts, args.format)))
    return 1 if verdicts.failed else 0


def _process_values(path: Path, *, normalize: bool):
    """One run as one replicate; with `normalize`, each case's time in units of its own device's calibration
    matmul (median_ms x the device's measured peak at the row's precision: GFLOP-equivalents)."""
    values = store.load_process(path)
    if normalize:
        ok = values["status"] == "ok"
        missing = values[ok & values["peak_gflops"].isna()]
        if not missing.empty:
            row = missing.iloc[0]
            raise store.RunFileError(f"{path}: {row['model']} {row['mode']} on {row['device']} ({row['precision']}) "
                                     "has no measured peak for its device and precision: --normalize needs runs "
                                     "whose calibration measured it")
        values["median_ms"] = values["median_ms"] * values["peak_gflops"] / 1e3
    return values


def report(args) -> int:
    from bench.output.report import write_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out: {args.out!r} exists and is not a directory")
    print(f"report: {write_report(args.runs, out)}")
    return 0


def sweep(args) -> int:
    from bench.sweep import sweep as run_sweep

    if any(a == "--backend" or a.startswith("--backend=") for a in args.pytest_args):
        raise OptionError("--backend after --: the sweep sets each backend itself; use --backends")
    return run_sweep(args.backends, args.pytest_args)


def overhead(args) -> int:
    from bench import overhead as check

    backend_name = args.backend or parse_one("KERAS_BACKEND", backends.BACKEND_NAMES)(backends.requested())
    if args.threads and not backends.BACKENDS[backend_name].sets_threads:
        raise OptionError(str(backends.ThreadsUnsupported(backend_name)))
    backends.select(backend_name)
    if args.bare_loop_rounds:
        print(check.bare_median_ms(args.model, args.mode, args.batch_size, args.device, args.bare_loop_rounds,
                                   threads=args.threads))
        return 0
    check.measure_overhead(args.model, args.mode, args.batch_size, args.device, backend_name,
                           profile=args.profile, repeats=args.repeats, threads=args.threads)
    return 0
