"""Writing a run: never replacing a file, never losing a finished run.

Each name is claimed with an exclusive create and the full contents then moved
onto it, so the name holds either nothing yet or the whole file, without needing
hard links. A run for a remote store (a URL) is written so into a local staging
directory, then uploaded (bench.store.remote). A run that cannot be written where
asked goes to a fallback directory, which the caller names.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.results import CaseResult
from bench.store.location import is_url
from bench.store.schema import KEY_COLUMNS, SAMPLES_COLUMNS, SCHEMA_VERSION, RunFileError, run_columns


def check_writable(directory: Path | str) -> None:
    """Makes `directory` if needed and proves a file can be created in it (a store's URL: that a small
    object can be created and removed there).

    Raises:
        RunFileError: one line naming the directory and why it cannot hold a run.
    """
    if is_url(directory):
        from bench.store.remote import check_writable_remote

        return check_writable_remote(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as error:
        raise RunFileError(f"{directory}: cannot write runs there ({error.strerror or error}); "
                           "give a directory you can write to") from None


@dataclass(frozen=True)
class WrittenRun:
    """Where a run was written; `refused` says why the directory asked for could not take it.

    A run uploaded to a remote store: `run` and `samples` are their URLs (location.ObjectURL) and
    `local` a copy of the run file in the store's local cache (for the report); else `local` is None.
    """

    run: Path
    samples: Path
    refused: str = ""
    local: Path | None = None


def fallback_dir() -> Path:
    """Where a run goes when its results directory refuses it: the system's temporary directory."""
    return Path(tempfile.gettempdir()) / "keras-bench-results"


def save_run(results_dir: Path | str, fingerprint: dict, results: list[CaseResult],
             samples: list[tuple[CaseResult, list[tuple[int, float]]]]) -> WrittenRun:
    """Writes the run into `results_dir` (a directory or a store's URL), or, if that fails (disk full,
    permissions, a store that cannot be reached), into fallback_dir().

    Raises:
        OSError: only when the fallback directory fails too.
    """
    try:
        if is_url(results_dir):
            from bench.store.remote import upload_run

            with tempfile.TemporaryDirectory(prefix="keras-bench-staging-") as staging:
                run, samples_url, local = upload_run(results_dir, *write_run(Path(staging), fingerprint, results,
                                                                             samples))
            return WrittenRun(run, samples_url, local=local)
        return WrittenRun(*write_run(results_dir, fingerprint, results, samples))
    except OSError as error:
        refused = f"{results_dir}: {error.strerror or error}"
    except RunFileError as error:  # a store whose protocol cannot be used: the message names it
        refused = str(error)
    return WrittenRun(*write_run(fallback_dir(), fingerprint, results, samples), refused=refused)


def write_run(results_dir: Path, fingerprint: dict, results: list[CaseResult],
              samples: list[tuple[CaseResult, list[tuple[int, float]]]]) -> tuple[Path, Path]:
    """Writes the run and its samples (each case's (pass, seconds) rounds); returns their paths.

    If `<run_id>.csv` is taken (two runs in one second), the run_id gets a suffix.
    """
    return write_rows(results_dir, fingerprint, [r.flat() for r in results],
                      [(r.flat(), rounds) for r, rounds in samples])


def run_frames(fingerprint: dict, rows: list[dict],
               samples: list[tuple[dict, list[tuple[int, float]]]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run file's and the samples file's tables, from flat rows (CaseResult.flat())."""
    frame = pd.DataFrame([{"schema_version": SCHEMA_VERSION, **fingerprint, **row} for row in rows],
                         columns=run_columns(fingerprint))
    sample_rows = pd.DataFrame(
        [{**_key(fingerprint, row), "round": i, "pass": p, "seconds": s}
         for row, rounds in samples for i, (p, s) in enumerate(rounds)],
        columns=list(SAMPLES_COLUMNS),
    )
    return frame, sample_rows


def write_rows(results_dir: Path, fingerprint: dict, rows: list[dict],
               samples: list[tuple[dict, list[tuple[int, float]]]]) -> tuple[Path, Path]:
    """write_run for flat rows (a journal's, bench.store.recovery)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    frame, sample_rows = run_frames(fingerprint, rows, samples)
    base = fingerprint["run_id"]
    for attempt in range(1000):
        run_id = base if attempt == 0 else f"{base}-{attempt + 1}"
        run_path = results_dir / f"{run_id}.csv"
        samples_path = results_dir / f"{run_id}.samples.csv"
        if run_path.exists() or samples_path.exists():
            continue
        frame["run_id"] = run_id
        sample_rows["run_id"] = run_id
        try:
            # Samples first: a run file whose samples are missing would mislead compare.
            _write_new(samples_path, sample_rows)
        except FileExistsError:
            continue
        try:
            _write_new(run_path, frame)
        except BaseException as error:  # the samples alone must not stand as a run
            samples_path.unlink()
            if isinstance(error, FileExistsError):
                continue
            raise
        return run_path, samples_path
    raise FileExistsError(f"no free run file name for {base} in {results_dir}")


def _key(fingerprint: dict, flat: dict) -> dict:
    row = {**fingerprint, **flat}
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
