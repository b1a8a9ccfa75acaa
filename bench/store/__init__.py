"""The run files, and the only code that writes or reads them.

    schema  the format: version, columns, case key, migrations of older files
    writer  writing a run atomically, never replacing a file, with a fallback directory
    reader  finding, loading and checking runs (and pooling several)
"""

from bench.store.reader import Run, list_runs, load, load_process, read_rows, resolve, resolve_many
from bench.store.schema import CASE_KEY, KEY_COLUMNS, SAMPLES_SUFFIX, SCHEMA_VERSION, RunFileError, migrate
from bench.store.writer import WrittenRun, check_writable, fallback_dir, save_run, write_run

__all__ = ["CASE_KEY", "KEY_COLUMNS", "SAMPLES_SUFFIX", "SCHEMA_VERSION", "Run", "RunFileError", "WrittenRun",
           "check_writable", "fallback_dir", "list_runs", "load", "load_process", "migrate", "read_rows", "resolve",
           "resolve_many", "save_run", "write_run"]
