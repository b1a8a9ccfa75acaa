"""Where runs live: a local directory or a store's URL (s3://bucket/prefix, gs://..., any fsspec protocol).

The one module that knows about URLs. A plain path, or a file:// URL, is a local
directory (a Path), handled as it always was; any other URL is a remote store,
reached through fsspec, which is imported only when such a URL is given. Both
kinds offer the few operations the journal and the remote writer and reader need
(`Folder`): create a file that must not exist yet, read one, list a folder,
remove a file or a tree. Failures of a remote store come back as OSError (FileExistsError
and FileNotFoundError kept as such), which callers turn into one line.
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote

from bench.store.schema import RunFileError

_URL = re.compile(r"(?P<protocol>[A-Za-z][A-Za-z0-9+.-]*)://")


def is_url(location) -> bool:
    """Whether `location` names a remote store (a str URL other than file://)."""
    return isinstance(location, str) and bool(_URL.match(location)) and not location.startswith("file://")


def parse_location(text: str) -> Path | str:
    """A directory as a Path (file:// URLs included), else the store's URL without a trailing slash.

    Raises:
        RunFileError: one line: a protocol fsspec does not know, or whose package is not installed.
    """
    text = str(text)
    if not _URL.match(text):
        return Path(text)
    if text.startswith("file://"):
        return Path(unquote(text[len("file://"):]))
    protocol, path = text.split("://", 1)
    url = f"{protocol}://{path.rstrip('/')}"
    try:
        import fsspec
        from fsspec.registry import known_implementations
    except ImportError:
        raise RunFileError(f"{url}: reading and writing {protocol}:// needs the fsspec package: "
                           "pip install fsspec") from None
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise RunFileError(f"{url}: {protocol}:// is not a protocol fsspec knows; accepted: a directory, "
                           "file://, s3://, gs:// or another fsspec URL") from None
    except ImportError:
        package = known_implementations[protocol]["class"].split(".")[0]
        raise RunFileError(f"{url}: reading and writing {protocol}:// needs the {package} package: "
                           f"pip install {package}") from None
    if not path.strip("/"):
        raise RunFileError(f"{url}: names no bucket or folder; give e.g. {protocol}://bucket/prefix")
    return url


def cache_dir(location) -> Path:
    """The local folder where a store's runs are copied (remote stores) and recovered runs are assembled
    (any store): <temp>/keras-bench-cache/<hash of the location>/. Reading never writes into a store."""
    key = location if is_url(location) else str(Path(location).resolve())
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "keras-bench-cache" / digest


def one_line(error: BaseException) -> str:
    """An exception's text on one line (its type when it has none), for the store's one-line errors."""
    text = " ".join(str(getattr(error, "strerror", None) or error).split())
    return text[:200] or type(error).__name__


class ObjectURL(str):
    """The URL of one object in a remote store, with the `name` a Path has (what the summary shows)."""

    @property
    def name(self) -> str:
        return self.rsplit("/", 1)[-1]


class Folder(abc.ABC):
    """A folder of a store: a local directory (`LocalFolder`) or a remote prefix (`RemoteFolder`).

    Paths given to the methods are relative, "/"-separated. `create` never replaces a file: it raises
    FileExistsError when the name is taken (locally an exclusive create; remotely see RemoteFolder).
    """

    @abc.abstractmethod
    def where(self, relative: str = "") -> str:
        """The folder's (or one of its files') path or URL, for messages."""

    @abc.abstractmethod
    def create(self, relative: str, data: bytes) -> None:
        """Writes a new file; FileExistsError when the name is taken."""

    @abc.abstractmethod
    def read(self, relative: str) -> bytes:
        """A file's contents."""

    @abc.abstractmethod
    def files(self, relative: str = "") -> dict[str, int]:
        """The files directly in a folder, name -> size; {} when the folder does not exist."""

    @abc.abstractmethod
    def folders(self, relative: str = "") -> list[str]:
        """The folders directly in a folder, by name; [] when it does not exist."""

    @abc.abstractmethod
    def remove(self, relative: str) -> None:
        """Removes a file or a whole folder (missing: nothing to do)."""


class LocalFolder(Folder):
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def where(self, relative: str = "") -> str:
        return str(self.directory / relative) if relative else str(self.directory)

    def create(self, relative: str, data: bytes) -> None:
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as handle:  # one small write: a kill leaves it whole or unparsable, never other
            handle.write(data)

    def read(self, relative: str) -> bytes:
        return (self.directory / relative).read_bytes()

    def files(self, relative: str = "") -> dict[str, int]:
        folder = self.directory / relative
        return {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}

    def folders(self, relative: str = "") -> list[str]:
        folder = self.directory / relative
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def remove(self, relative: str) -> None:
        path = self.directory / relative
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)


class RemoteFolder(Folder):
    """A prefix of a remote store, through fsspec.

    `create` uses fsspec's `pipe_file(..., mode="create")`. On S3, s3fs (2024.12 and later) sends it as
    a PUT with `If-None-Match: *`, which the store refuses when the key exists (FileExistsError): a
    conditional write, safe against any other writer (AWS S3 honours it, and so does moto, which
    tests/integration/test_store_s3.py checks). A filesystem without conditional writes falls back to
    fsspec's check-then-write, which leaves a race: two writers choosing the same name in the same
    instant could both write it, the second replacing the first. Run names carry the second, the host
    and the backend, so that takes two runs of one host and backend finishing in the same second.
    """

    def __init__(self, url: str):
        import fsspec

        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")

    def where(self, relative: str = "") -> str:
        return ObjectURL(f"{self.url}/{relative}" if relative else self.url)

    def _path(self, relative: str) -> str:
        return f"{self.root}/{relative}" if relative else self.root

    def create(self, relative: str, data: bytes) -> None:
        self._call(self.fs.pipe_file, self._path(relative), data, mode="create")

    def read(self, relative: str) -> bytes:
        return self._call(self.fs.cat_file, self._path(relative))

    def _entries(self, relative: str) -> list[dict]:
        try:  # refresh: other writers change the store; a listing cached by fsspec would not show it
            return self._call(self.fs.ls, self._path(relative), detail=True, refresh=True)
        except FileNotFoundError:
            return []

    def files(self, relative: str = "") -> dict[str, int]:
        return {entry["name"].rstrip("/").rsplit("/", 1)[-1]: int(entry.get("size") or 0)
                for entry in self._entries(relative) if entry.get("type") == "file"}

    def folders(self, relative: str = "") -> list[str]:
        return sorted(entry["name"].rstrip("/").rsplit("/", 1)[-1]
                      for entry in self._entries(relative) if entry.get("type") == "directory")

    def remove(self, relative: str) -> None:
        try:
            self._call(self.fs.rm, self._path(relative), recursive=True)
        except FileNotFoundError:
            pass

    @staticmethod
    def _call(method, *args, **kwargs):
        """Calls fsspec; what it raises that is not an OSError (a client library's own errors: no
        credentials, no endpoint) becomes one, so that callers handle a store's failures in one way."""
        try:
            return method(*args, **kwargs)
        except OSError:
            raise
        except Exception as error:  # the filesystem packages raise their own kinds
            raise OSError(f"{type(error).__name__}: {one_line(error)}") from error


def open_folder(location) -> Folder:
    """The Folder of a store: `location` is a Path or a URL (bench.store.location.parse_location)."""
    location = parse_location(location) if isinstance(location, str) else location
    return RemoteFolder(location) if is_url(location) else LocalFolder(location)
