"""The run files, and the only code that writes or reads them.

    schema    the format: version, columns, case key, migrations of older files
    location  where runs live: a directory or a store's URL (fsspec), and the local cache
    writer    writing a run atomically, never replacing a file, with a fallback directory
    remote    uploading a run to a URL store without overwriting, reading one through the cache
    reader    finding, loading and checking runs (and pooling several)
    journal   a session's passes journalled as it goes, so that a killed run keeps them
    recovery  the runs recovered from the journals of sessions that were killed
"""

from bench.store.journal import Journal
from bench.store.reader import Run, all_runs, list_runs, load, load_process, read_rows, resolve, resolve_many
from bench.store.schema import CASE_KEY, KEY_COLUMNS, SAMPLES_SUFFIX, SCHEMA_VERSION, RunFileError, migrate
from bench.store.writer import WrittenRun, check_writable, fallback_dir, save_run, write_run

__all__ = ["CASE_KEY", "KEY_COLUMNS", "SAMPLES_SUFFIX", "SCHEMA_VERSION", "Journal", "Run", "RunFileError",
           "WrittenRun", "all_runs", "check_writable", "fallback_dir", "list_runs", "load", "load_process", "migrate",
           "read_rows", "resolve", "resolve_many", "save_run", "write_run"]
