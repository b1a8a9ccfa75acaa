"""`python -m bench noise [-- HARNESS ARGS]`: where this machine's timing noise comes from, for the paired gate.

Two workers of this checkout (the same code on both sides: every difference is
noise) are timed in blocks, in three arrangements, each over `--pairs` fresh worker
pairs, each timing rounds for `--pair-s` seconds after the round that builds its cases:

- alternate: one block of a case in one worker, then in the other, in a random order (the gate's way);
- alternate-pinned: the same, each worker pinned to a CPU of its own (os.sched_setaffinity);
- duet: both workers pinned and timed at the same moment (Bulej et al.'s duet benchmarking).

and, inside one worker, blocks of a second instance of each model (built apart) against
the first. The table splits each arrangement's noise into its levels (see `decompose`);
every block lands in --out/blocks.csv, the table in --out/noise.csv.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from bench import ROOT
from bench.output.tables import render
from bench.paired import Pair, WorkerProcess, block_record

ARRANGEMENTS = ("alternate", "alternate-pinned", "duet")


def run_probe(harness_args: list[str], *, out: Path, pairs: int, pair_s: float, block_s: float, seed: int,
              say=print) -> pd.DataFrame:
    """Times the arrangements and the instances; every block as a row (column `arrangement`)."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    rng, zero, frames = random.Random(seed), time.monotonic(), []
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    arrangements = ARRANGEMENTS if len(cpus) >= 2 else ARRANGEMENTS[:1]  # pinning needs two CPUs and Linux
    if arrangements != ARRANGEMENTS:
        say("noise: fewer than two CPUs to pin to (or no os.sched_setaffinity): alternation only")
    for arrangement in arrangements:
        pinned = arrangement != "alternate"
        for number in range(1, pairs + 1):
            sides = {"a": (ROOT, [cpus[0]] if pinned else None), "b": (ROOT, [cpus[1]] if pinned else None)}
            pair = Pair(number, sides, harness_args, logs=out / "logs", clock_zero=zero, rng=rng,
                        concurrent=arrangement == "duet", label=arrangement)
            try:
                cases = sorted(set.intersection(*(set(c) for c in pair.start().values())))
                blocks, rounds = pair.round(1, cases, block_s), 1  # the first round builds and warms every case
                ends = time.monotonic() + pair_s
                while time.monotonic() < ends or rounds < 3:
                    rounds += 1
                    blocks += pair.round(rounds, cases, block_s)
            finally:
                pair.close()
            frames.append(pd.DataFrame([asdict(b) for b in blocks]).assign(arrangement=arrangement))
            say(f"{arrangement} pair {number}: {rounds} rounds of {len(cases)} cases")
    frames.append(_instances(harness_args, out=out, seconds=pair_s, block_s=block_s, rng=rng, zero=zero))
    blocks = pd.concat(frames, ignore_index=True)
    blocks.to_csv(out / "blocks.csv", index=False)
    return blocks


def _instances(harness_args, *, out, seconds, block_s, rng, zero) -> pd.DataFrame:
    """One worker: each case's first model instance against a second one, built apart, alternating."""
    worker = WorkerProcess(ROOT, harness_args, log=out / "logs" / "instances.log")
    rows, rounds = [], 0
    try:
        cases = worker.ready()
        for case in cases:  # build both instances first: their rounds then time warm models only
            for instance in (1, 2):
                worker.block(case, 0.0, instance)
        ends = time.monotonic() + seconds
        while time.monotonic() < ends or rounds < 3:
            rounds += 1
            for case in rng.sample(cases, len(cases)):
                for index, instance in enumerate(rng.sample([1, 2], 2)):
                    answer = worker.block(case, block_s, instance)
                    if answer["status"] == "ok":
                        rows.append(block_record(answer, pair=1, round=rounds, case=case, side="ab"[instance - 1],
                                                 first=index == 0, started_s=time.monotonic() - zero))
    finally:
        worker.close()
    return pd.DataFrame([asdict(r) for r in rows]).assign(arrangement="instances")


def decompose(blocks: pd.DataFrame) -> pd.DataFrame:
    """Per arrangement, the median over cases of each noise level (sd of logs, i.e. about a fraction):

    within_block: a block's calls (IQR/median / 1.349); between_blocks: one worker's blocks of a case
    over its life; between_processes: workers' means of a case (same code); correlation: of the two
    workers' blocks, round by round; pair_ratio: the sd of a pair of blocks' log-ratio; pair_se: the
    standard error of a case's ratio from one worker pair; between_pairs: the sd of the worker pairs'
    case ratios, and `excess`: its part beyond pair_se (what restarting worker pairs samples).
    """
    blocks = blocks[blocks["built_s"] == 0].assign(log=lambda f: np.log(f["median_ms"]))  # building is not timing
    rows = []
    for arrangement, frame in blocks.groupby("arrangement", sort=False):
        wide = frame.pivot_table(index=["case", "pair", "round"], columns="side", values="log")
        ratio = (wide["b"] - wide["a"]).dropna()
        per_pair = ratio.groupby(["case", "pair"]).agg(["mean", "std", "size"])
        processes = frame.groupby(["case", "pair", "side"])["log"].mean().groupby("case")
        between_pairs = per_pair["mean"].groupby("case").std()
        pair_se = (per_pair["std"] / np.sqrt(per_pair["size"])).groupby("case").median()
        rows.append({
            "arrangement": arrangement,
            "cases": frame["case"].nunique(), "pairs": frame["pair"].nunique(),
            "rounds": int(per_pair["size"].median()),
            "within_block": frame["spread"].median() / 1.349,
            "between_blocks": frame.groupby(["case", "pair", "side"])["log"].std().median(),
            "between_processes": processes.std().median(),
            "correlation": wide.groupby("case").apply(lambda w: w["a"].corr(w["b"])).median(),
            "pair_ratio": per_pair["std"].median(),
            "pair_se": pair_se.median(),
            "between_pairs": between_pairs.median(),
            "excess": np.sqrt(max(0.0, (between_pairs**2 - pair_se**2).median())),
            "model_between_pairs": _model_between_pairs(ratio),
        })
    return pd.DataFrame(rows)


def _model_between_pairs(ratio: pd.Series) -> float:
    """The sd of the worker pairs' model ratios (a model: the mean log-ratio over its cases)."""
    frame = ratio.rename("ratio").reset_index()
    frame["model"] = frame["case"].str.split("-").str[0]
    per_case = frame.groupby(["model", "case", "pair"])["ratio"].mean()
    per_model = per_case.groupby(["model", "pair"]).mean()
    return float(per_model.groupby("model").std().median()) if per_model.index.get_level_values("pair").nunique() > 1 \
        else float("nan")


def add_arguments(parser) -> None:
    """`python -m bench noise`'s options (bench.cli)."""
    from bench.parsers import positive_integer, positive_number, typed

    parser.description = ("Times two workers of this checkout in alternating, pinned and concurrent blocks, and "
                          "one worker's second model instances, and splits the noise into its levels "
                          "(docs/gate.md). Harness arguments go after -- (default: the gate's recipe).")
    for flag, parse, default, text in (
            ("--pairs", positive_integer("--pairs", "2"), 2, "worker pairs an arrangement"),
            ("--pair-s", positive_number("--pair-s", "90"), 90.0, "seconds of rounds a worker pair, after its first"),
            ("--block-s", positive_number("--block-s", "0.25"), 0.25, "seconds a block"),
            ("--seed", positive_integer("--seed", "1"), 1, "the blocks' order")):
        parser.add_argument(flag, type=typed(parse), default=default, help=f"{text} (default: {default:g})")
    parser.add_argument("--out", required=True, metavar="DIR", help="a new directory for blocks.csv and the logs")
    parser.add_argument("pytest_args", nargs="*", metavar="-- HARNESS_ARGS", help="the cases' harness options")
    parser.set_defaults(handler=command)


def command(args) -> int:
    from bench.ab import default_args
    from bench.parsers import OptionError

    from bench.checkouts import Side, check_pytest_args, collect

    out = Path(args.out)
    if out.exists():
        raise OptionError(f"--out: {args.out!r} exists; the probe writes into a new directory")
    harness_args = args.pytest_args or default_args()
    check_pytest_args(harness_args)
    collect(Side("harness arguments", " ".join(harness_args), ROOT), harness_args)  # a bad argument: one line, exit 2
    return main(harness_args, out=out, pairs=args.pairs, pair_s=args.pair_s,
                block_s=args.block_s, seed=args.seed)


def main(harness_args: list[str], *, out: Path, pairs: int, pair_s: float, block_s: float, seed: int,
         say=print) -> int:
    say(f"noise: {len(ARRANGEMENTS)} arrangements x {pairs} worker pairs x {pair_s:g} s, blocks of {block_s:g} s, "
        f"then one worker's instances; blocks in {out / 'blocks.csv'}")
    table = decompose(run_probe(harness_args, out=out, pairs=pairs, pair_s=pair_s, block_s=block_s, seed=seed,
                                say=say))
    (out / "noise.csv").write_text(render(table, "csv") + "\n")
    say(render(table, "table", digits={c: 4 for c in table.columns if c not in ("arrangement",)}))
    return 0
