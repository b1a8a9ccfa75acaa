"""The journal: a session's passes, journalled as they finish, come back as the run the session would have
written when it is killed; a session in progress is left alone; a written run leaves no journal.
(A real session killed with SIGKILL: tests/integration/test_journal_kill.py.)"""

import json
import math
import os
import tempfile
import time
import uuid
import warnings

import fsspec
import pandas as pd
import psutil
import pytest

from bench import store
from bench.options import HarnessConfig
from bench.results import CaseResult
from bench.session import BenchSession
from bench.store import journal, recovery
from bench.store.journal import system_identity
from bench.store.location import LocalFolder, RemoteFolder

FINGERPRINT = {"run_id": "20260101T000000Z_host_tensorflow", "timestamp_utc": "2026-01-01T00:00:00Z",
               "commit_time": "", "host": "host", "machine": "ci", "cpu_cores": 2, "ram_gb": 7.5,
               "backend": "tensorflow", "recovered": False, "omp_num_threads": None,
               "calibration_matmul_gflops": math.nan}


def case(model="mnist_cnn", mode="infer", batch_size=1, status="ok", **fields):
    return CaseResult(device="cpu", device_name="Fake CPU", model=model, mode=mode, batch_size=batch_size,
                      precision="float32", jit_compile="off", status=status, flops_per_sample=1e6, **fields)


def a_session_of_two_passes(record):
    """Three cases over two passes, as a session runs them: `record(case_id, result, pass_rounds)` after each
    pass. Returns the rows and samples the session writes at the end."""
    infer, train = case(), case(mode="train", batch_size=8)
    skipped = case(batch_size=4, status="skipped", message="gpu not present")
    rounds = {"infer": [(1, 0.001), (1, 0.003)], "train": [(1, 0.010), (1, 0.011)]}
    infer.with_latency([s for _, s in rounds["infer"]]).energy_j = math.inf  # a figure JSON cannot hold as is
    train.with_latency([s for _, s in rounds["train"]])
    assert math.isnan(infer.latency.p99_ms)  # and NaNs: too few rounds for a p99
    record("infer", infer, rounds["infer"])
    record("train", train, rounds["train"])
    record("skipped", skipped, [])
    rounds["infer"] += [(2, 0.002)]
    infer.with_latency([s for _, s in rounds["infer"]]).passes = 2
    record("infer", infer, [(2, 0.002)])
    train.status, train.message = "error", "RuntimeError: injected failure"
    train.clear_measurements()  # a case failing in pass 2 keeps no figures, nor its samples
    record("train", train, [])
    return [infer, train, skipped], [(infer, rounds["infer"])]


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()


def test_a_killed_sessions_journal_is_the_run_it_would_have_written(tmp_path, cache, monkeypatch, capsys):
    results = tmp_path / "results"
    log = store.Journal(results, FINGERPRINT)
    rows, samples = a_session_of_two_passes(lambda case_id, result, rounds: log.record(case_id, result.flat(), rounds))
    monkeypatch.setattr(recovery, "owner_alive", lambda *_: False)  # as if this process had been killed
    (recovered,) = store.list_runs(results)
    expected, expected_samples = store.write_run(tmp_path / "expected", {**FINGERPRINT, "recovered": True}, rows,
                                                 samples)
    assert recovered.read_bytes() == expected.read_bytes()
    assert recovered.with_name(expected_samples.name).read_bytes() == expected_samples.read_bytes()
    assert not results.joinpath(recovered.name).exists()  # reading never writes the store
    frame = pd.read_csv(recovered)
    assert frame["energy_j"].iloc[0] == math.inf and frame["p99_ms"].isna().all() and frame["recovered"].all()
    assert store.load(recovered).cases["rounds"].tolist() == [3]  # its samples match its rounds
    journal_dir = results / ".journal" / log.name
    assert capsys.readouterr().err == (f"recovered {FINGERPRINT['run_id']} from its journal (3 cases finished "
                                       f"before it stopped): {journal_dir}\n")
    assert store.all_runs(str(results)) == [recovered] and store.resolve(str(results)) == recovered


def test_a_recovered_run_takes_a_name_the_store_does_not_hold(tmp_path, cache, monkeypatch):
    results = tmp_path / "results"
    log = store.Journal(results, FINGERPRINT)
    a_session_of_two_passes(lambda case_id, result, rounds: log.record(case_id, result.flat(), rounds))
    written = store.write_run(results, FINGERPRINT, [case().with_latency([0.001])], [])[0]
    monkeypatch.setattr(recovery, "owner_alive", lambda *_: False)
    assert [p.name for p in store.list_runs(results)] == [written.name, f"{FINGERPRINT['run_id']}-2.csv"]


def test_a_journal_cut_short_by_the_kill_keeps_the_passes_before(tmp_path, cache, monkeypatch):
    results = tmp_path / "results"
    log = store.Journal(results, FINGERPRINT)
    log.record("infer", case().with_latency([0.001, 0.002]).flat(), [(1, 0.001), (1, 0.002)])
    (results / ".journal" / log.name / "00002.json").write_text('{"time": 1, "case": "infer", "row": {"dev')
    monkeypatch.setattr(recovery, "owner_alive", lambda *_: False)
    (recovered,) = store.list_runs(results)
    assert store.load(recovered).cases["rounds"].tolist() == [2]


def test_a_session_in_progress_is_left_alone(tmp_path, cache, capsys):
    results = tmp_path / "results"
    store.Journal(results, FINGERPRINT).record("infer", case().with_latency([0.001]).flat(), [(1, 0.001)])
    with pytest.raises(store.RunFileError, match="no run files"):  # its owner, this process, is alive
        store.list_runs(results)
    assert capsys.readouterr().err == ""


def test_the_owner_is_gone_when_its_process_is_or_its_passes_stopped_long_ago():
    here, now = system_identity(), time.time()
    assert recovery.owner_alive({**here, "pid": os.getpid(), "started": now}, now)
    started = psutil.Process().create_time()  # a pid reused since: that process started after the journal
    assert not recovery.owner_alive({**here, "pid": os.getpid(), "started": started - 60}, now)
    assert not recovery.owner_alive({**here, "pid": 2**31 - 1, "started": now}, now)
    for elsewhere in ({**here, "host": here["host"] + "-other"},  # another machine, or a container of the
                      {**here, "boot_id": "another boot"}, {**here, "pid_namespace": 1}):  # same name: pids mean nothing
        owner = {**elsewhere, "pid": 2**31 - 1, "started": now}
        assert recovery.owner_alive(owner, now - 3600, now)
        assert not recovery.owner_alive(owner, now - recovery.STALE_AFTER_S - 1, now)


def test_a_written_run_removes_its_journal_and_a_kill_before_the_removal_recovers_nothing(
        tmp_path, cache, monkeypatch):
    results = tmp_path / "results"
    log = store.Journal(results, FINGERPRINT)
    log.record("infer", case().with_latency([0.001]).flat(), [(1, 0.001)])
    log.close("results/x.csv")
    assert not (results / ".journal").exists()
    log = store.Journal(results, FINGERPRINT)
    log.record("infer", case().with_latency([0.001]).flat(), [(1, 0.001)])
    monkeypatch.setattr(LocalFolder, "remove", lambda *_: None)  # killed between the marker and the removal
    log.close("results/x.csv")
    monkeypatch.setattr(recovery, "owner_alive", lambda *_: False)
    with pytest.raises(store.RunFileError, match="no run files"):
        store.list_runs(results)


def test_the_session_removes_its_journal_once_the_run_is_written_and_keeps_it_otherwise(
        tmp_path, cache, monkeypatch):
    session = BenchSession(HarnessConfig.from_values({"results_dir": str(tmp_path / "results")}))
    monkeypatch.setattr(session, "_fill_efficiency", lambda **_: None)  # it would time the GPUs
    session.fingerprint = dict(FINGERPRINT)
    session.journal = store.Journal(session.config.results_dir, session.fingerprint)
    session.runner.results.append(case().with_latency([0.001]))
    session.journal.record("infer", session.results[0].flat(), [(1, 0.001)])
    real_save, disk_full = store.save_run, [True]

    def save_run(*args):
        if disk_full[0]:
            raise OSError("disk full")
        return real_save(*args)

    monkeypatch.setattr(store, "save_run", save_run)
    session.finish()
    assert session.unwritten and len(list((tmp_path / "results" / ".journal").iterdir())) == 1  # the only record
    monkeypatch.setattr(store, "save_run", lambda *args: store.WrittenRun(  # the store refused: the fallback took it
        *store.write_run(tmp_path / "fallback", *args[1:]), refused="results: connection reset"))
    session.finish()
    assert session.written.refused and len(list((tmp_path / "results" / ".journal").iterdir())) == 1
    monkeypatch.setattr(store, "save_run", save_run)
    disk_full[0] = False
    session.finish()
    assert session.written.run.exists() and not (tmp_path / "results" / ".journal").exists()


def test_json_carries_nan_and_infinity():
    data = journal.dumps({"nan": math.nan, "inf": math.inf, "minus": -math.inf, "list": [1, math.nan], "none": None})
    assert json.loads(data)["nan"] is None  # valid JSON: no NaN token
    back = journal.loads(data)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["minus"] == -math.inf
    assert back["list"][0] == 1 and math.isnan(back["list"][1]) and math.isnan(back["none"])


def test_a_journal_that_cannot_be_written_warns_once_and_the_session_goes_on(tmp_path):
    (tmp_path / "a_file").write_text("")
    log = store.Journal(tmp_path / "a_file" / "results", FINGERPRINT)
    with pytest.warns(RuntimeWarning, match="the run's journal stopped"):
        log.record("infer", case().flat(), [])
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        log.record("infer", case().flat(), [])
    assert again == [] and log.failed and log.events == 0


def test_a_journal_in_a_remote_store_is_recovered_into_the_cache(cache, monkeypatch):
    url = f"memory://bench-{uuid.uuid4().hex[:8]}/runs"
    log = store.Journal(url, FINGERPRINT)
    rows, samples = a_session_of_two_passes(lambda case_id, result, rounds: log.record(case_id, result.flat(), rounds))
    monkeypatch.setattr(recovery, "owner_alive", lambda *_: False)
    try:
        (recovered,) = store.all_runs(url)
        assert store.load(recovered).cases["recovered"].tolist() == [True]
        assert list(RemoteFolder(url).files()) == []  # nothing written into the store, beside the journal
        assert len(RemoteFolder(url).files(f".journal/{log.name}")) == 6  # the fingerprint and five passes
    finally:
        fsspec.filesystem("memory").rm(url.removeprefix("memory:/"), recursive=True)
