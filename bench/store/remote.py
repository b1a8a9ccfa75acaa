"""Runs in a remote store (a URL): uploaded once, never overwritten; read through a local cache.

Writing: the run is written locally first, as into any directory (bench.store.writer), then
uploaded under the first free name, `<run_id>.csv`, else `<run_id>-2.csv`, ... as the local
writer does, with the run_id column rewritten to match. The samples go up first and the run
file last: a run file without its samples would mislead compare. Each object is created
with location.RemoteFolder.create, which never replaces an object (see there for what S3
guarantees and the race other stores leave).

Reading: the store's run files and their samples are copied into the local cache
(location.cache_dir), each only when it is not there already with the same size (a run's
objects never change once written), and the readers get local Paths.
"""

from __future__ import annotations

import io
import os
import secrets
import tempfile
from pathlib import Path

import pandas as pd

from bench.store.location import ObjectURL, RemoteFolder, cache_dir, one_line, parse_location
from bench.store.schema import SAMPLES_SUFFIX, RunFileError


def open_remote(url: str) -> RemoteFolder:
    """The store at `url`; raises RunFileError (one line) when its protocol cannot be used."""
    url = parse_location(url)
    try:
        return RemoteFolder(url)
    except (ImportError, ValueError, TypeError, OSError) as error:
        raise RunFileError(f"{url}: cannot open the store ({one_line(error)})") from None


def check_writable_remote(url: str) -> None:
    """Proves that a small object can be created and removed in the store.

    Raises:
        RunFileError: one line naming the store and why it cannot hold a run.
    """
    folder = open_remote(url)
    probe = f".write-check-{secrets.token_hex(4)}"
    try:
        folder.create(probe, b"")
        folder.remove(probe)
    except OSError as error:
        raise RunFileError(f"{folder.url}: cannot write runs there ({one_line(error)}); "
                           "give a store you can write to") from None


def upload_run(url: str, run_path: Path, samples_path: Path) -> tuple[ObjectURL, ObjectURL, Path]:
    """Uploads a run written locally (its run file and samples file) under the first free name.

    Returns:
        the run's and the samples' URLs, and the run file's copy in the local cache.
    Raises:
        OSError: the store refused or could not be reached (the caller falls back to a local directory).
    """
    folder = open_remote(url)
    base = run_path.name[: -len(".csv")]
    contents = {base: (run_path.read_bytes(), samples_path.read_bytes())}
    taken = set(folder.files())
    for attempt in range(1000):
        run_id = base if attempt == 0 else f"{base}-{attempt + 1}"
        run_name, samples_name = f"{run_id}.csv", f"{run_id}{SAMPLES_SUFFIX}"
        if run_name in taken or samples_name in taken:
            continue
        run_bytes, samples_bytes = contents.get(run_id) or tuple(
            _with_run_id(data, run_id) for data in contents[base])
        try:
            _create(folder, samples_name, samples_bytes)
        except FileExistsError:  # another writer took the name since the listing
            continue
        try:
            _create(folder, run_name, run_bytes)
        except BaseException as error:  # the samples alone must not stand as a run
            try:
                folder.remove(samples_name)
            except OSError:
                pass
            if isinstance(error, FileExistsError):
                continue
            raise
        cache = cache_dir(folder.url)
        _cache(cache / samples_name, samples_bytes)
        return folder.where(run_name), folder.where(samples_name), _cache(cache / run_name, run_bytes)
    raise FileExistsError(f"no free run file name for {base} in {folder.url}")


def _create(folder, name: str, data: bytes) -> None:
    """Creates `name`; an object already there with these very bytes is this upload's own (s3fs retries a PUT
    whose answer timed out: the retry's If-None-Match then fails on the first attempt's object), not a clash."""
    try:
        folder.create(name, data)
    except FileExistsError:
        if folder.read(name) != data:
            raise


def _with_run_id(data: bytes, run_id: str) -> bytes:
    """A run or samples file with its run_id column set to `run_id`, every other cell as it was."""
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    frame["run_id"] = run_id
    return frame.to_csv(index=False).encode()


def fetch_runs(url: str) -> tuple[list[Path], set[str]]:
    """The store's run files, copied into the local cache (with their samples); and the names of the
    store's files (a recovered run must not take one of them).

    Raises:
        RunFileError: the store cannot be read (one line).
    """
    folder = open_remote(url)
    try:
        files = folder.files()
        runs = []
        for name, size in files.items():
            if not name.endswith(".csv") or name.endswith(SAMPLES_SUFFIX) or not size:  # empty: being written
                continue
            samples = name[: -len(".csv")] + SAMPLES_SUFFIX
            if samples in files:
                _mirror(folder, samples, files[samples])
            runs.append(_mirror(folder, name, size))
    except OSError as error:
        raise RunFileError(f"{folder.url}: cannot read the store ({one_line(error)})") from None
    return runs, set(files)


def fetch_run(url: str) -> Path:
    """One run object (`.../<run_id>.csv`) and its samples, copied into the local cache."""
    parent, name = url.rstrip("/").rsplit("/", 1)
    folder = open_remote(parent)
    try:
        files = folder.files()
        if name not in files:
            raise RunFileError(f"{url}: no such run file in the store")
        samples = name[: -len(".csv")] + SAMPLES_SUFFIX
        if samples in files:
            _mirror(folder, samples, files[samples])
        return _mirror(folder, name, files[name])
    except OSError as error:
        raise RunFileError(f"{url}: cannot read the store ({one_line(error)})") from None


def _mirror(folder: RemoteFolder, name: str, size: int) -> Path:
    """The cached copy of the store's file `name`, downloaded unless cached with the same size."""
    local = cache_dir(folder.url) / name
    if not (local.is_file() and local.stat().st_size == size):
        _cache(local, folder.read(name))
    return local


def _cache(path: Path, data: bytes) -> Path:
    """Writes a cache file whole (a temporary file moved into place): a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
