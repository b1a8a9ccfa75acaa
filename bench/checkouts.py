"""The two sides of `python -m bench ab`: checkouts of this project (directories, or git refs made into
worktrees) and the cases their own code collects with the user's pytest arguments."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import ROOT
from bench.parsers import OptionError

# What ab decides itself: which cases are timed (every collected case of both sides) and where it writes.
OWNED_OPTIONS = ("-k", "--results-dir", "--replicas", "--benchmark-disable", "--collect-only", "--co")


class CheckoutError(OptionError):
    """A BASE or HEAD that is not a checkout of this project."""


@dataclass
class Side:
    name: str  # base or head
    given: str  # what the user typed
    checkout: Path
    cases: set[str] = field(default_factory=set)  # case ids its collection found
    worktree: bool = False  # made by ab from a git ref, removed when it is done


def checkout(text: str, name: str, workdir: Path) -> Side:
    """A directory holding this project, or a git ref of ROOT's repository made into a worktree."""
    path = Path(text)
    if path.is_dir():
        if not ((path / "bench" / "plugin.py").is_file() and (path / "conftest.py").is_file()):
            raise CheckoutError(f"{name.upper()}: {text!r} is not a checkout of this project (no bench/plugin.py "
                                "and conftest.py); give its directory or a git ref")
        return Side(name, text, path.resolve())
    commit = _git("rev-parse", "--verify", "--quiet", f"{text}^{{commit}}")
    if commit is None:
        raise CheckoutError(f"{name.upper()}: {text!r} is neither a directory nor a git ref of {ROOT}; "
                            "give a checkout's directory or a commit, branch or tag")
    tree = workdir / "checkouts" / f"{name}-{commit[:12]}"
    if not tree.exists() and _git("worktree", "add", "--detach", "--quiet", str(tree), commit) is None:
        raise CheckoutError(f"{name.upper()}: could not check out {text!r} into {tree}")
    return Side(name, text, tree, worktree=True)


def _git(*args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def check_pytest_args(pytest_args: list[str]) -> None:
    for arg in pytest_args:
        flag = arg.split("=", 1)[0]
        if flag == "--scenario":
            raise OptionError("--scenario after --: ab gates the batch scenario (its workers time blocks of calls); "
                              "compare server runs with `python -m bench compare`")
        if flag in OWNED_OPTIONS or (flag.startswith("-k") and flag != "-k" and not flag.startswith("--")):
            raise OptionError(f"{flag} after --: ab sets it itself (it times every case both sides collect and "
                              "writes everything under --out); narrow the matrix with --models, --modes, "
                              "--batch-sizes, --devices")


def collect(side: Side, pytest_args: list[str]) -> None:
    """The side's cases, as its own code lists them; a usage error (bad option) is raised as one line."""
    command = [sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", "-p", "no:cacheprovider",
               *pytest_args]
    done = subprocess.run(command, cwd=side.checkout, capture_output=True, text=True)
    if done.returncode not in (0, 5):
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        # pytest's own refusal follows its usage line ("...: error: unrecognized arguments: --x");
        # the harness's is one "ERROR: --option: ..." line.
        refusal = r"^(ERROR: |[^:]+: error: )"  # pytest 8 names itself "__main__.py", pytest 9 "python -m pytest"
        reasons = [re.sub(refusal, "", line) for line in lines
                   if re.match(refusal, line) and not line.startswith("ERROR: usage:")]
        raise OptionError(f"{side.name.upper()} ({side.given}): pytest refused the arguments: "
                          f"{reasons[0] if reasons else (lines[-1] if lines else done.returncode)}")
    side.cases = {re.sub(r"-pass\d+$", "", match) for match in re.findall(r"::test_model\[([^\]]+)\]", done.stdout)}


def remove_worktree(side: Side) -> None:
    """Removes the worktree ab made for `side` (a directory the user gave is left alone)."""
    if side.worktree:
        _git("worktree", "remove", "--force", str(side.checkout))
