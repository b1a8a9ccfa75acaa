"""A real session killed with SIGKILL (as the OOM killer or a CI timeout kills) keeps its finished cases:
reading its store recovers them from its journal."""

import json
import signal
import subprocess
import tempfile
import time

import pytest
from tests_support import ROOT, bench_command

from bench import store

pytestmark = pytest.mark.integration

# The smallest session whose first case finishes well before its last: b1 takes rounds enough for a p99.
SMALL = ("--models=mnist_cnn", "--modes=infer", "--batch-sizes=1,2", "--passes=3", "--devices=cpu")


def finished_cases(results) -> list[dict]:
    """The rows of the passes the session's journal holds so far (an event still being written is skipped)."""
    rows = []
    for event in sorted(results.glob(".journal/*/0*.json")):
        try:
            rows.append(json.loads(event.read_text())["row"])
        except (ValueError, KeyError, OSError):
            continue
    return [row for row in rows if row["status"] == "ok"]


def test_a_session_killed_by_sigkill_is_recovered_with_its_finished_case(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the recovered run goes into this test's cache
    results = tmp_path / "results"
    log = tmp_path / "session.log"  # a file, not a pipe: a full pipe would stall the session
    with log.open("w") as output:
        session = subprocess.Popen(bench_command(results, *SMALL), cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not finished_cases(results):
            assert session.poll() is None, f"the session ended before a case finished: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no case finished in 120 s"
            time.sleep(0.02)
        session.send_signal(signal.SIGKILL)
        session.wait(timeout=30)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    assert session.returncode == -signal.SIGKILL, "the session finished before it could be killed"
    assert not list(results.glob("*.csv"))  # the run file was never written
    (journal,) = results.glob(".journal/*")

    (recovered,) = store.list_runs(results)
    assert store.all_runs(str(results)) == [recovered]
    note = capsys.readouterr().err
    assert note.startswith(f"recovered {recovered.stem} from its journal (") and note.endswith(
        f"finished before it stopped): {journal}\n"), note
    run = store.load(recovered)  # load checks each ok case's rounds against its samples
    first = run.cases.query("batch_size == 1").iloc[0]
    assert (first["status"], first["model"], first["mode"]) == ("ok", "mnist_cnn", "infer") and first["recovered"]
    case_samples = run.samples.query("batch_size == 1")
    assert first["rounds"] == len(case_samples) > 0
    assert first["median_ms"] == pytest.approx(case_samples["seconds"].median() * 1e3)
    assert run.run_id == recovered.stem and journal.is_dir()  # reading left the store as it was
