"""A results store on S3: moto's S3 server on the loopback stands for the bucket (no other network).

The harness itself has no S3 setting: s3fs (botocore) takes the credentials, the region and the endpoint
from the environment, as on a real fleet. The fixture points it at moto through botocore's
AWS_ENDPOINT_URL_S3 (read whenever a client is made; fsspec's FSSPEC_S3_ENDPOINT_URL would work too, but
is read once, when fsspec is imported). Skips, saying why, without moto[server] and s3fs
(pip install ".[test]"), and fails instead when KERAS_BENCH_REQUIRE_S3=1.
"""

import os
import subprocess
import uuid

import pandas as pd
import pytest
from tests_support import ROOT, THREE_MODELS, bench_command, make_run, run_cli, write_series

from bench import store
from bench.results import CaseResult
from bench.store import recovery
from bench.store.location import RemoteFolder
from bench.store.remote import upload_run

pytestmark = pytest.mark.integration
REQUIRE_S3 = "KERAS_BENCH_REQUIRE_S3"


@pytest.fixture(scope="module")
def bucket():
    """s3://<bucket> on a moto server of this process, started for the module and stopped after it."""
    try:
        import s3fs
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        reason = f"the S3 tests need moto[server] and s3fs ({error}): pip install '.[test]'"
        if os.environ.get(REQUIRE_S3) == "1":
            pytest.fail(f"{REQUIRE_S3}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    environment = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
                   "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "FSSPEC_S3_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        s3fs.S3FileSystem.clear_instance_cache()  # a client made before would not see the endpoint
        name = f"bench-{uuid.uuid4().hex[:8]}"
        s3fs.S3FileSystem().mkdir(name)
        try:
            yield f"s3://{name}"
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


@pytest.fixture
def prefix(bucket, tmp_path, monkeypatch):
    """A fresh prefix of the bucket; the local cache under tmp_path."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    return f"{bucket}/runs-{uuid.uuid4().hex[:8]}"


def test_runs_written_to_s3_read_back_equal_to_the_local_ones(prefix, tmp_path):
    local = [make_run(tmp_path / "local", stamp, seed=seed)
             for seed, stamp in enumerate(["20260101T000000Z", "20260102T000000Z"])]
    for path in local:
        upload_run(prefix, path, path.with_name(path.stem + ".samples.csv"))
    runs = store.all_runs(prefix)
    assert [p.name for p in runs] == [p.name for p in local] and runs == store.list_runs(prefix + "/")
    for remote, path in zip(runs, local):
        assert remote.read_bytes() == path.read_bytes()
        ours, theirs = store.load(remote), store.load(path)
        assert ours.cases.equals(theirs.cases) and ours.samples.equals(theirs.samples)
    assert store.resolve(prefix).name == local[-1].name


def test_history_of_a_store_on_s3_is_the_history_of_the_same_runs_in_a_folder(prefix, tmp_path):
    write_series(tmp_path / "local", 12, slower_from=8, run_noise=0.05, seed=2, cases=THREE_MODELS)
    for path in store.list_runs(tmp_path / "local"):
        upload_run(prefix, path, path.with_name(path.stem + ".samples.csv"))
    local, remote = run_cli("history", tmp_path / "local"), run_cli("history", prefix)
    assert local == remote and local[0] == 1 and "REGRESSION" in local[1], (local, remote)


def test_a_run_on_s3_is_never_overwritten(prefix, tmp_path):
    path = make_run(tmp_path / "local", "20260101T000000Z")
    samples = path.with_name(path.stem + ".samples.csv")
    first, _, _ = upload_run(prefix, path, samples)
    before = RemoteFolder(prefix).read(first.name)
    second, second_samples, _ = upload_run(prefix, path, samples)
    assert second.name == "20260101T000000Z_ci_tensorflow-2.csv" and second_samples.name.endswith("-2.samples.csv")
    assert RemoteFolder(prefix).read(first.name) == before
    assert pd.read_csv(store.resolve(prefix))["run_id"].eq("20260101T000000Z_ci_tensorflow-2").all()
    with pytest.raises(FileExistsError):  # S3's conditional write (If-None-Match), which moto honours
        RemoteFolder(prefix).create(first.name, b"replaced")
    assert RemoteFolder(prefix).read(first.name) == before


def test_check_writable_on_s3(prefix, bucket):
    store.check_writable(prefix)
    assert RemoteFolder(prefix).files() == {}  # its probe is gone
    missing = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/runs"
    with pytest.raises(store.RunFileError) as caught:
        store.check_writable(missing)
    message = str(caught.value)
    assert message.startswith(f"{missing}: cannot write runs there (") and "\n" not in message, message


def test_a_journal_on_s3_is_recovered_when_its_owner_is_gone(prefix, monkeypatch, capsys):
    fingerprint = {"run_id": "20260101T000000Z_other_tensorflow", "host": "other", "backend": "tensorflow",
                   "recovered": False}
    log = store.Journal(prefix, fingerprint)
    row = CaseResult(device="cpu", model="mnist_cnn", mode="infer", batch_size=1, precision="float32",
                     jit_compile="off", status="ok").with_latency([0.001, 0.002])
    log.record("mnist_cnn-infer-cpu-b1", row.flat(), [(1, 0.001), (1, 0.002)])
    monkeypatch.setattr("socket.gethostname", lambda: "reader")  # read from another host ...
    with pytest.raises(store.RunFileError, match="no run files"):
        store.list_runs(prefix)  # ... while its passes are recent: in progress
    monkeypatch.setattr(recovery, "STALE_AFTER_S", 0)  # ... and once they stopped long ago
    (recovered,) = store.list_runs(prefix)
    assert store.load(recovered).cases["recovered"].tolist() == [True]
    assert capsys.readouterr().err == (f"recovered 20260101T000000Z_other_tensorflow from its journal (1 case "
                                       f"finished before it stopped): {prefix}/.journal/{log.name}\n")
    assert RemoteFolder(prefix).files() == {}  # reading wrote nothing into the store


@pytest.mark.slow  # 17 s: a real session; CI runs it
def test_a_session_writes_its_run_to_s3(prefix, tmp_path):
    """A real `pytest bench/ --results-dir s3://...`: the store checked at collection, the passes journalled
    there, the run uploaded at the end and its journal removed."""
    done = subprocess.run(bench_command(prefix, "--models=mnist_cnn", "--modes=infer", "--batch-sizes=2",
                                        "--passes=1", "--devices=cpu", "--machine=ci-s3"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(tmp_path)})  # its local copy of the run: in tmp_path
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = store.all_runs(prefix)
    assert f"results: {prefix}/{run.name}  (samples: {run.stem}.samples.csv)" in done.stdout
    cases = store.load(run).cases
    assert cases["machine"].tolist() == ["ci-s3"] and not cases["recovered"].any()
    assert set(RemoteFolder(prefix).files()) == {run.name, f"{run.stem}.samples.csv"}
    assert RemoteFolder(prefix).folders() == []  # the journal went once the run was written
