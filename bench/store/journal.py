"""The journal of a session in progress: a run killed before its end keeps its finished passes.

A session writes its run only at the end; SIGKILL, the OOM killer or a CI timeout
would lose it all. So, from its first pass on, a session journals into its results
store: a folder `.journal/<run_id>-<8 hex>/` holding `fingerprint.json` (the run's
columns, and its owner: host, pid, start time) and one small JSON file per pass of a
case, `00001.json`, `00002.json`, ...: the case's row after that pass (its latency
figures cover every pass so far) and the (pass, seconds) rounds the pass added. Each
file is created once (an exclusive create; a new object in a remote store), between
passes, never inside a timed one. When the run file is written the journal is removed,
never before. bench.store.recovery turns the journal of a session that stopped into
a run, when the store is read.

JSON has no NaN or infinity: NaN is written as null (and None comes back as NaN, which
a run file writes as the same empty cell), and +-infinity as {"$float": "inf"}.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import secrets
import socket
import time
import warnings
from pathlib import Path

import numpy as np

from bench.store.location import Folder, LocalFolder, one_line, open_folder
from bench.store.schema import RunFileError

JOURNAL_DIR = ".journal"
FINGERPRINT = "fingerprint.json"
WRITTEN = "written.json"  # the run is written: the journal is about to go (a kill in between leaves it)


class Journal:
    """The journal of one session, in the store at `location` (a directory or a URL).

    Nothing is written before the first pass is recorded: a session that times nothing
    (--benchmark-disable) leaves the store alone. A journal that cannot be written
    (a full disk, a store gone) stops, with one warning: the session goes on, and its
    run is still written at the end.
    """

    def __init__(self, location, fingerprint: dict):
        self.location = location
        self.fingerprint = fingerprint
        self.name = f"{fingerprint['run_id']}-{secrets.token_hex(4)}"
        self.events = 0
        self.failed: str | None = None  # why the journal stopped
        self._folder: Folder | None = None

    def record(self, case_id: str, row: dict, samples: list[tuple[int, float]]) -> None:
        """Journals one pass of one case: its row now (CaseResult.flat()) and the rounds the pass added."""
        if self.failed:
            return
        try:
            if self._folder is None:
                folder = open_folder(self.location)
                owner = {**system_identity(), "pid": os.getpid(), "started": time.time(),
                         "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                folder.create(f"{JOURNAL_DIR}/{self.name}/{FINGERPRINT}",
                              dumps({"fingerprint": self.fingerprint, "owner": owner}))
                self._folder = folder
            self.events += 1
            event = {"time": time.time(), "case": case_id, "row": row, "samples": [list(s) for s in samples]}
            self._folder.create(f"{JOURNAL_DIR}/{self.name}/{self.events:05d}.json", dumps(event))
        except (OSError, RunFileError) as error:
            self.failed = one_line(error)
            warnings.warn(f"the run's journal stopped ({self.failed}): a kill would lose the run; "
                          "it is still written at the end", RuntimeWarning, stacklevel=2)

    def close(self, outcome: str) -> None:
        """Removes the journal: its run is written (`outcome` says where) or had nothing to write. A session
        whose run could be written nowhere does not call it: the journal is then the run's only record."""
        if self._folder is None:
            return
        folder = f"{JOURNAL_DIR}/{self.name}"
        with contextlib.suppress(OSError):  # a kill before the removal: readers know the run is written
            self._folder.create(f"{folder}/{WRITTEN}", dumps({"outcome": outcome}))
        with contextlib.suppress(OSError):
            self._folder.remove(folder)
        if isinstance(self._folder, LocalFolder):  # the last journal out leaves no empty folder behind
            with contextlib.suppress(OSError):
                (self._folder.directory / JOURNAL_DIR).rmdir()


def system_identity() -> dict:
    """What tells this kernel and pid namespace apart from another with the same host name (containers
    sharing a volume, fleet machines named alike): the boot id and the pid namespace's inode, where Linux has them."""
    identity = {"host": socket.gethostname()}
    try:
        identity["boot_id"] = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        identity["pid_namespace"] = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        pass
    return identity


def dumps(value) -> bytes:
    """JSON of `value`, NaN as null and infinity tagged (see the module's docstring)."""
    return json.dumps(_plain(value), allow_nan=False, separators=(",", ":")).encode()


def loads(data: bytes):
    """What `dumps` wrote, with NaN and infinity restored."""
    return _restored(json.loads(data))


def _plain(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        return {"$float": "inf" if number > 0 else "-inf"} if math.isinf(number) else number
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value)


def _restored(value):
    if value is None:
        return math.nan
    if isinstance(value, dict):
        if set(value) == {"$float"}:
            return float(value["$float"])
        return {key: _restored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restored(item) for item in value]
    return value
