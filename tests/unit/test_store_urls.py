"""Stores by URL: runs uploaded once and never overwritten, read back through the local cache, and one line
for a store that cannot be used. fsspec's memory:// filesystem stands for a bucket (S3 itself:
tests/integration/test_store_s3.py)."""

import contextlib
import errno
import importlib
import sys
import tempfile
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from tests_support import run_cli

from bench import store
from bench.parsers import OptionError, parse_results_dir
from bench.results import CaseResult
from bench.store.location import RemoteFolder, cache_dir

FINGERPRINT = {"run_id": "20260101T000000Z_host_tensorflow", "timestamp_utc": "2026-01-01T00:00:00Z",
               "host": "host", "machine": "ci", "backend": "tensorflow"}


def a_run(last=0.004):
    ok = CaseResult(device="cpu", device_name="cpu", model="mnist_cnn", mode="infer", batch_size=32,
                    precision="float32", jit_compile="off", status="ok", flops_per_sample=1e6).with_latency([0.001, 0.002, last])
    skipped = CaseResult(device="gpu", model="mnist_cnn", mode="infer", batch_size=32, precision="float32",
                         status="skipped", message="no GPU")
    return [ok, skipped], [(ok, [(1, 0.001), (1, 0.002), (2, last)])]


@pytest.fixture
def bucket(monkeypatch, tmp_path):
    """A fresh memory:// store; the local cache under tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    url = f"memory://bench-{uuid.uuid4().hex[:8]}/runs"
    yield url
    with contextlib.suppress(FileNotFoundError):  # a test that wrote nothing
        fsspec.filesystem("memory").rm(url.removeprefix("memory:/"), recursive=True)


def test_a_run_is_uploaded_once_and_a_second_of_the_same_id_gets_a_suffix(bucket, tmp_path):
    first = store.save_run(bucket, FINGERPRINT, *a_run())
    assert first.run == f"{bucket}/20260101T000000Z_host_tensorflow.csv" and not first.refused
    assert first.samples.name == "20260101T000000Z_host_tensorflow.samples.csv"
    memory = fsspec.filesystem("memory")
    before = memory.cat_file(first.run)
    second = store.save_run(bucket, FINGERPRINT, *a_run())
    assert second.run == f"{bucket}/20260101T000000Z_host_tensorflow-2.csv"
    assert memory.cat_file(first.run) == before  # never overwritten
    local = store.write_run(tmp_path / "local", FINGERPRINT, *a_run())[0]
    assert before == local.read_bytes()  # the object is the run a directory gets
    runs = store.list_runs(bucket)
    assert [p.name for p in runs] == [Path(first.run).name, Path(second.run).name]
    assert all(p.parent == cache_dir(bucket) for p in runs) and first.local == runs[0]
    loaded = store.load(runs[1])  # its samples were renamed with it: load checks they match
    assert set(loaded.cases["run_id"]) == set(loaded.samples["run_id"]) == {"20260101T000000Z_host_tensorflow-2"}
    expected = store.load(local)
    assert loaded.cases.drop(columns="run_id").equals(expected.cases.drop(columns="run_id"))
    assert loaded.samples.drop(columns="run_id").equals(expected.samples.drop(columns="run_id"))


def test_a_name_taken_since_the_listing_is_not_overwritten(bucket, monkeypatch):
    first = store.save_run(bucket, FINGERPRINT, *a_run())
    monkeypatch.setattr(RemoteFolder, "files", lambda self, relative="": {})  # a listing that missed it
    second = store.save_run(bucket, FINGERPRINT, *a_run(last=0.005))  # another run, in the same second
    assert second.run.name == "20260101T000000Z_host_tensorflow-2.csv" and first.run != second.run


def test_a_retried_upload_that_had_landed_is_the_same_run_not_a_second(bucket, monkeypatch):
    """s3fs retries a PUT whose answer timed out; if the first attempt landed, the retry's If-None-Match fails."""
    create = RemoteFolder.create

    def landed_then_refused(self, relative, data):
        create(self, relative, data)
        raise FileExistsError(relative)
    monkeypatch.setattr(RemoteFolder, "create", landed_then_refused)
    written = store.save_run(bucket, FINGERPRINT, *a_run())
    assert written.run.name == "20260101T000000Z_host_tensorflow.csv"
    monkeypatch.setattr(RemoteFolder, "create", create)
    assert [path.name for path in store.all_runs(bucket)] == ["20260101T000000Z_host_tensorflow.csv"]


def test_readers_take_urls_and_copy_each_file_once(bucket, monkeypatch):
    first, second = (store.save_run(bucket, FINGERPRINT, *a_run()) for _ in range(2))
    store.list_runs(bucket)
    downloads = []
    real_read = RemoteFolder.read
    monkeypatch.setattr(RemoteFolder, "read", lambda self, name: downloads.append(name) or real_read(self, name))
    assert store.resolve(bucket).name == second.run.name  # the newest
    assert store.resolve(bucket, "20260101T000000Z_host_tensorflow").name == first.run.name
    assert store.resolve(str(first.run)).name == first.run.name  # one object
    assert [p.name for p in store.resolve_many(bucket, 2)] == [first.run.name, second.run.name]
    assert store.all_runs(bucket + "/") == store.list_runs(bucket)
    assert downloads == []  # all cached already, with the same sizes


@pytest.mark.parametrize("call,message", [
    (lambda url: store.list_runs(url), "no run files (<run_id>.csv) in this store"),
    (lambda url: store.resolve(url + "/absent.csv"), "absent.csv: no such run file in the store"),
    (lambda url: store.save_run(url, FINGERPRINT, *a_run()) and store.resolve(url, "absent"),
     "no run 'absent' in this store"),
    (lambda url: store.resolve_many(url + "/x.csv", 2), "--runs 2 needs a directory of runs, not a file"),
])
def test_reading_a_store_that_lacks_the_run_is_one_line(bucket, call, message):
    with pytest.raises(store.RunFileError) as caught:
        call(bucket)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_store_that_refuses_the_upload_sends_the_run_to_the_fallback(bucket, monkeypatch, tmp_path):
    real_create = RemoteFolder.create

    def refuse_the_run_file(self, relative, data):
        if relative.endswith(".csv") and not relative.endswith(".samples.csv"):
            raise PermissionError(errno.EACCES, "Access Denied")
        real_create(self, relative, data)

    monkeypatch.setattr(RemoteFolder, "create", refuse_the_run_file)
    written = store.save_run(bucket, FINGERPRINT, *a_run())
    assert written.run.parent == tmp_path / "tmp" / "keras-bench-results" and written.samples.exists()
    assert written.refused == f"{bucket}: Access Denied"
    assert RemoteFolder(bucket).files() == {}  # the samples, uploaded first, went with it


def test_check_writable_creates_and_removes_a_probe(bucket, monkeypatch):
    store.check_writable(bucket)
    assert RemoteFolder(bucket).files() == {}
    monkeypatch.setattr(RemoteFolder, "create", lambda *_: (_ for _ in ()).throw(PermissionError("Access Denied")))
    with pytest.raises(store.RunFileError) as caught:
        store.check_writable(bucket)
    assert str(caught.value) == f"{bucket}: cannot write runs there (Access Denied); give a store you can write to"


def test_a_missing_protocol_package_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs fails
    monkeypatch.delitem(importlib.import_module("fsspec.registry")._registry, "s3", raising=False)
    with pytest.raises(OptionError) as caught:
        parse_results_dir("s3://b/p")
    assert str(caught.value) == ("--results-dir: s3://b/p: reading and writing s3:// needs the s3fs package: "
                                 "pip install s3fs")
    code, _, err = run_cli("compare", "s3://b/p", "s3://b/q")
    assert code == 2 and err.strip().splitlines() == [
        "error: s3://b/p: reading and writing s3:// needs the s3fs package: pip install s3fs"], err


@pytest.mark.parametrize("text,message", [
    ("nosuch://b/p", "--results-dir: nosuch://b/p: nosuch:// is not a protocol fsspec knows; accepted: a directory, "
                     "file://, s3://, gs:// or another fsspec URL"),
    ("s3://", "--results-dir: s3://: names no bucket or folder; give e.g. s3://bucket/prefix"),
])
def test_a_url_that_names_no_store_is_one_line(text, message):
    with pytest.raises(OptionError) as caught:
        parse_results_dir(text)
    assert str(caught.value) == message


def test_plain_paths_and_file_urls_are_directories(tmp_path):
    assert parse_results_dir("results") == Path("results")
    assert parse_results_dir(f"file://{tmp_path}/runs") == tmp_path / "runs"
    written = store.save_run(parse_results_dir(f"file://{tmp_path}/runs"), FINGERPRINT, *a_run())
    assert written.run == tmp_path / "runs" / "20260101T000000Z_host_tensorflow.csv" and written.local is None
    assert store.all_runs(f"file://{tmp_path}/runs") == [written.run] == store.all_runs(str(written.run))
    assert pd.read_csv(written.run)["machine"].tolist() == ["ci", "ci"]
