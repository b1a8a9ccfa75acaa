"""`python -m bench bisect GOOD BAD`: the first commit where a model or case got slower, by the paired gate.

The commits from GOOD (excluded) to BAD (included) along BAD's first-parent line
are searched by bisection (a regression brought in by a merge is named as that merge); each step gates GOOD against one commit with `bench ab`
(paired workers, its own budget) and prints its verdict. BAD is gated first: if it
is not shown slower than GOOD there is nothing to look for, and the command says
so. A commit whose gate exits 1 (a regression, or a case failing or missing) is
bad; one that exits 0 (unchanged or inconclusive) is taken as good, and its line
says which. A step that cannot judge (exit 2) stops the search, saying why.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

from bench import ROOT
from bench.parsers import OptionError

NARROWING = ("--models", "--modes", "--devices", "--batch-sizes")


def add_arguments(parser) -> None:
    """`python -m bench bisect`'s options (bench.cli)."""
    from bench.parsers import parse_alpha, parse_budget, parse_threshold, typed

    parser.description = ("GOOD BAD: git refs of this repository, GOOD an ancestor of BAD. Gates GOOD against "
                          "midpoints with `bench ab` until the first commit shown slower is found; harness "
                          "arguments go after --. Exit 0 with the first bad commit, 2 when it cannot be found.")
    parser.add_argument("good", metavar="GOOD", help="a commit (or branch, tag) known to be fast")
    parser.add_argument("bad", metavar="BAD", help="a later commit known to be slower")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--model", metavar="NAME", help="gate this model only (its cases in the recipe)")
    target.add_argument("--case", metavar="CASE", help="gate this case only, as ab names it: MODEL-MODE-DEVICE-bN")
    parser.add_argument("--budget", type=typed(parse_budget), default=10.0, metavar="MINUTES",
                        help="wall-clock minutes for each step's gate (default: 10)")
    parser.add_argument("--threshold", type=typed(parse_threshold), default=0.05, metavar="PERCENT",
                        help="smallest slowdown that counts (default: 5%%)")
    parser.add_argument("--alpha", type=typed(parse_alpha), default=0.01, metavar="P",
                        help="each gate's chance of a false alarm (default: 0.01)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="a new directory for each step's gate (default: results/bisect/<UTC time>)")
    parser.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="the harness's arguments")
    parser.set_defaults(handler=command)


def command(args) -> int:
    from bench import ab

    good, bad = _commit(args.good, "GOOD"), _commit(args.bad, "BAD")
    if good == bad:
        raise OptionError(f"GOOD and BAD are the same commit ({good[:12]}); give a later BAD")
    if _git("merge-base", "--is-ancestor", good, bad) is None:
        raise OptionError(f"GOOD ({args.good}) is not an ancestor of BAD ({args.bad}); bisect needs a line of history")
    # The first-parent line: along it "bad" only turns on once (a side branch's commits, listed by date among
    # the main line's, would break that); a merge that brought the regression in is named as the merge.
    commits = _git("rev-list", "--reverse", "--first-parent", "--ancestry-path", f"{good}..{bad}").split()
    if not commits:
        raise OptionError(f"GOOD ({args.good}) is not on BAD's first-parent line; give a GOOD that is, e.g. the "
                          "merge base")
    harness_args = narrowed(list(args.pytest_args), ab.default_args(), model=args.model, case=args.case)
    out = Path(args.out) if args.out else ROOT / "results" / "bisect" / datetime.now(timezone.utc).strftime(
        "%Y%m%dT%H%M%SZ")
    if out.exists():
        raise OptionError(f"--out: {out} exists; every bisection writes into a new directory")
    print(f"bisect: {len(commits)} commit(s) after {good[:12]} up to {bad[:12]}, about "
          f"{max(1, len(commits)).bit_length() + 1} gates of {args.budget:g} min; {' '.join(harness_args)}",
          flush=True)

    def gate(commit: str, step: int) -> int:
        step_out = out / f"step-{step}-{commit[:12]}"
        step_out.mkdir(parents=True)
        print(f"step {step}: gating {commit[:12]} against GOOD ...", flush=True)
        with open(step_out / "gate.log", "w") as log:
            lines: list[str] = []

            def say(line: str) -> None:
                print(line, file=log, flush=True)
                lines.append(line)
            code = ab.main(good, commit, harness_args, out=step_out / "gate", budget_min=args.budget,
                           threshold=args.threshold, alpha=args.alpha, say=say)
        named = [line for line in lines if line.startswith(("SLOWER ", "FAILED ", "error: "))]
        verdict = {0: "good (not shown slower)", 1: "BAD", 2: "cannot judge"}.get(code, f"exit {code}")
        print(f"step {step}: {commit[:12]} {_subject(commit)!r}: {verdict}"
              + (f": {'; '.join(named)}" if named else "") + f" ({step_out / 'gate.log'})", flush=True)
        return code

    first = first_bad(commits, gate)
    if first is None:
        print(f"bisect: BAD ({args.bad}) is not shown slower than GOOD ({args.good}) at {args.threshold:.0%}: "
              "nothing to look for (a longer --budget sees smaller changes)")
        return 2
    print(f"first bad commit: {first} {_subject(first)!r}")
    return 0


class CannotJudge(OptionError):
    """A step's gate could judge nothing (exit 2): the search stops."""


def first_bad(commits: list[str], gate) -> str | None:
    """The first commit `gate` calls bad, by bisection; None when the last (BAD) is not bad.

    commits: oldest first, GOOD excluded, BAD last. gate(commit, step) -> 0 good, 1 bad, else cannot judge.
    """
    steps = iter(range(1, len(commits) + 2))

    def bad(index: int) -> bool:
        code = gate(commits[index], next(steps))
        if code not in (0, 1):
            raise CannotJudge(f"the gate of {commits[index][:12]} could judge nothing (exit {code}); see its log")
        return code == 1

    if not bad(len(commits) - 1):
        return None
    good, worse = -1, len(commits) - 1  # commits[good] passed its gate (-1: GOOD itself); commits[worse] failed
    while worse - good > 1:
        middle = (good + worse) // 2
        if bad(middle):
            worse = middle
        else:
            good = middle
    return commits[worse]


def narrowed(user_args: list[str], defaults: list[str], *, model: str | None, case: str | None) -> list[str]:
    """The harness arguments (the user's, else the gate's recipe) narrowed to --model or --case.

    --model sets --models, --case all four of NARROWING: the user's own arguments must not set them too; the
    recipe's (e.g. its --modes) give way.
    """
    if not (model or case):
        return user_args or defaults
    owned = ("--models",) if model else NARROWING
    given = [arg.split("=", 1)[0] for arg in user_args if arg.split("=", 1)[0] in owned]
    if given:
        raise OptionError(f"{given[0]} after --: --{'model' if model else 'case'} chooses it itself; "
                          "give one or the other")
    base = _without(user_args or defaults, owned)
    if model:
        return [*base, "--models", model]
    parts = case.rsplit("-", 3)
    if len(parts) != 4 or not parts[3].startswith("b") or not parts[3][1:].isdecimal():
        raise OptionError(f"--case: {case!r} is not a case as ab names it; give MODEL-MODE-DEVICE-bN, "
                          "e.g. mnist_cnn-infer-cpu-b32")
    name, mode, device, batch = parts
    return [*base, "--models", name, "--modes", mode, "--devices", device, "--batch-sizes", batch[1:]]


def _without(args: list[str], flags) -> list[str]:
    """`args` less the given flags and their values (`--flag value` and `--flag=value`)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        elif arg.split("=", 1)[0] not in flags:
            kept.append(arg)
    return kept


def _commit(ref: str, name: str) -> str:
    commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not commit:
        raise OptionError(f"{name}: {ref!r} is not a commit of {ROOT}; give a commit, branch or tag")
    return commit


def _subject(commit: str) -> str:
    return _git("log", "-1", "--format=%s", commit) or ""


def _git(*args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None
