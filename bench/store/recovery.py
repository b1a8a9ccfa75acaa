"""Runs recovered from journals: a session killed before writing its run still yields the cases it finished.

When a store is read (bench.store.reader), each journal (bench.store.journal) whose
run was never written and whose owner is gone becomes a run: each case's newest row,
the rounds of all its passes, the fingerprint's columns, and `recovered` True. The
owner is gone when, on this host, its process is not alive (a pid reused since does
not count), and, from another host, when its newest pass is older than STALE_AFTER_S.
A journal whose owner is alive is a run in progress: left out, without a word.

The recovered run is written into the store's local cache (location.cache_dir), never
into the store (reading does not write the store), as a run file and a samples file
that load() accepts, under the run id the session would have used (with the `-N`
suffix when the store holds that name). One line on stderr says so.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import psutil

from bench.store.journal import FINGERPRINT, JOURNAL_DIR, WRITTEN, loads, system_identity
from bench.store.location import Folder, cache_dir, one_line
from bench.store.schema import SAMPLES_SUFFIX
from bench.store.writer import run_frames

STALE_AFTER_S = 6 * 3600  # a journal from another host with no pass for this long: its session is gone
UNMEASURED = ("skipped", "error", "oom")  # rows without rounds: the session writes no samples for them
_NOTED: set[str] = set()  # journals already announced by this process


def recover_runs(folder: Folder, location, taken: set[str]) -> list[Path]:
    """The runs recovered from the store's journals, as paths in its local cache.

    Args:
        folder: the store (location.open_folder).
        location: the store's Path or URL, which names its cache.
        taken: the names of the store's files; a recovered run takes a name none of them has.
    """
    recovered = []
    for name in folder.folders(JOURNAL_DIR):
        journal = f"{JOURNAL_DIR}/{name}"
        try:
            found = read_journal(folder, journal)
            if found is None:
                continue
            fingerprint, events = found
            directory = cache_dir(location) / "recovered" / name / str(os.getpid())  # readers at once: one each
            path = _write_recovered(fingerprint, events, directory, taken)
        except Exception as error:  # a journal damaged beyond reading, in any way: the others still count
            _note(folder.where(journal), f"cannot recover a run from its journal ({one_line(error)}): "
                                         f"{folder.where(journal)}")
            continue
        taken.add(path.name)
        cases = len(_newest_rows(events))
        _note(folder.where(journal), f"recovered {path.stem} from its journal ({cases} case{'s' * (cases != 1)} "
                                     f"finished before it stopped): {folder.where(journal)}")
        recovered.append(path)
    return recovered


def read_journal(folder: Folder, journal: str) -> tuple[dict, list[dict]] | None:
    """A journal's fingerprint and events, oldest first, if its session stopped before writing its run;
    None for a run in progress, a run written already, or a journal with no pass in it."""
    files = folder.files(journal)
    if WRITTEN in files or FINGERPRINT not in files:
        return None
    head = loads(folder.read(f"{journal}/{FINGERPRINT}"))
    events = []
    for name in sorted((n for n in files if n.removesuffix(".json").isdigit()), key=lambda n: int(n[:-5])):
        try:
            events.append(loads(folder.read(f"{journal}/{name}")))
        except ValueError:  # the event a kill cut short: the passes before it stand
            continue
    if not events:
        return None
    newest = max(event["time"] for event in events)
    if owner_alive(head["owner"], newest):
        return None
    return {**head["fingerprint"], "recovered": True}, events


def owner_alive(owner: dict, newest_event: float, now: float | None = None) -> bool:
    """Whether the session that owns a journal may still be running."""
    if not _same_system(owner):  # its pid means nothing here: only the journal's age tells
        return (now or time.time()) - newest_event < STALE_AFTER_S
    try:
        process = psutil.Process(int(owner["pid"]))
        # A pid reused by a later process is not the owner: the owner started before its journal.
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= owner["started"] + 1
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's live process
        return True


def _same_system(owner: dict) -> bool:
    here = system_identity()
    return all(owner.get(key) == value for key, value in here.items())


def assemble(events: list[dict]) -> tuple[list[dict], list[tuple[dict, list[tuple[int, float]]]]]:
    """The rows and samples the session would have written: each case's newest row, in the order the
    cases first ran, and the rounds of all its passes (none for a case skipped or failed)."""
    rounds: dict[str, list[tuple[int, float]]] = {}
    for event in events:
        rounds.setdefault(event["case"], []).extend((int(p), float(s)) for p, s in event["samples"])
    newest = _newest_rows(events)
    samples = [(row, rounds[case]) for case, row in newest.items() if row["status"] not in UNMEASURED]
    return list(newest.values()), samples


def _newest_rows(events: list[dict]) -> dict[str, dict]:
    newest: dict[str, dict] = {}
    for event in events:  # a case keeps the place of its first pass
        newest[event["case"]] = event["row"]
    return newest


def _write_recovered(fingerprint: dict, events: list[dict], directory: Path, taken: set[str]) -> Path:
    """Writes the recovered run into `directory` (replacing what an earlier read put there)."""
    base = str(fingerprint["run_id"])
    run_id = next(candidate for candidate in (base, *(f"{base}-{n}" for n in range(2, 10_000)))
                  if f"{candidate}.csv" not in taken and f"{candidate}{SAMPLES_SUFFIX}" not in taken)
    fingerprint = {**fingerprint, "run_id": run_id}
    rows, samples = assemble(events)
    frame, sample_frame = run_frames(fingerprint, rows, samples)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    run_path = directory / f"{run_id}.csv"
    sample_frame.to_csv(directory / f"{run_id}{SAMPLES_SUFFIX}", index=False)
    frame.to_csv(run_path, index=False)
    return run_path


def _note(key: str, line: str) -> None:
    if key not in _NOTED:
        _NOTED.add(key)
        print(line, file=sys.stderr)
