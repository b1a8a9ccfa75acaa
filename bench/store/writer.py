"""Writing a run: never replacing a file, never losing a finished run.

Each name is claimed with an exclusive create and the full contents then moved
onto it, so the name holds either nothing yet or the whole file, without needing
hard links. A run that cannot be written where asked goes to a fallback
directory, which the caller names.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.results import CaseResult
from bench.store.schema import KEY_COLUMNS, SAMPLES_COLUMNS, SCHEMA_VERSION, RunFileError, run_columns


def check_writable(directory: Path) -> None:
    """Makes `directory` if needed and proves a file can be created in it.

    Raises:
        RunFileError: one line naming the directory and why it cannot hold a run.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as error:
        raise RunFileError(f"{directory}: cannot write runs there ({error.strerror or error}); "
                           "give a directory you can write to") from None


@dataclass(frozen=True)
class WrittenRun:
    """Where a run was written; `refused` says why the directory asked for could not take it."""

    run: Path
    samples: Path
    refused: str = ""


def fallback_dir() -> Path:
    """Where a run goes when its results directory refuses it: the system's temporary directory."""
    return Path(tempfile.gettempdir()) / "keras-bench-results"


def save_run(results_dir: Path, fingerprint: dict, results: list[CaseResult],
             samples: list[tuple[CaseResult, list[tuple[int, float]]]]) -> WrittenRun:
    """Writes the run into `results_dir`, or, if that fails (disk full, permissions), into fallback_dir().

    Raises:
        OSError: only when the fallback directory fails too.
    """
    try:
        return WrittenRun(*write_run(results_dir, fingerprint, results, samples))
    except OSError as error:
        refused = f"{results_dir}: {error.strerror or error}"
    return WrittenRun(*write_run(fallback_dir(), fingerprint, results, samples), refused=refused)


def write_run(results_dir: Path, fingerprint: dict, results: list[CaseResult],
              samples: list[tuple[CaseResult, list[tuple[int, float]]]]) -> tuple[Path, Path]:
    """Writes the run and its samples (each case's (pass, seconds) rounds); returns their paths.

    If `<run_id>.csv` is taken (two runs in one second), the run_id gets a suffix.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    rows = pd.DataFrame([{"schema_version": SCHEMA_VERSION, **fingerprint, **r.flat()} for r in results],
                        columns=run_columns(fingerprint))
    sample_rows = pd.DataFrame(
        [{**_key(fingerprint, r), "round": i, "pass": p, "seconds": s}
         for r, rounds in samples for i, (p, s) in enumerate(rounds)],
        columns=list(SAMPLES_COLUMNS),
    )
    base = fingerprint["run_id"]
    for attempt in range(1000):
        run_id = base if attempt == 0 else f"{base}-{attempt + 1}"
        run_path = results_dir / f"{run_id}.csv"
        samples_path = results_dir / f"{run_id}.samples.csv"
        if run_path.exists() or samples_path.exists():
            continue
        rows["run_id"] = run_id
        sample_rows["run_id"] = run_id
        try:
            # Samples first: a run file whose samples are missing would mislead compare.
            _write_new(samples_path, sample_rows)
        except FileExistsError:
            continue
        try:
            _write_new(run_path, rows)
        except BaseException as error:  # the samples alone must not stand as a run
            samples_path.unlink()
            if isinstance(error, FileExistsError):
                continue
            raise
        return run_path, samples_path
    raise FileExistsError(f"no free run file name for {base} in {results_dir}")


def _key(fingerprint: dict, result: CaseResult) -> dict:
    row = {**fingerprint, **result.flat()}
    return {column: row[column] for column in KEY_COLUMNS}


def _write_new(path: Path, frame: pd.DataFrame) -> None:
    """Writes `frame` to `path` atomically; raises FileExistsError rather than replace a file.

    The exclusive create claims the name (no hard links needed); the contents are
    written to a temporary file and moved onto the claimed name in one step.
    """
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    temporary = None
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would make the run unreadable to others
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        for leftover in filter(None, (temporary, path)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        raise
