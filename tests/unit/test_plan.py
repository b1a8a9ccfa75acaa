"""The plan and the runner with a faked GPU backend: device expansion, pass order, skips, re-warming,
what a failure drops. No model is built."""

import pytest
from tests_support import StandInBackend

from bench.backends import Device
from bench.options import HarnessConfig
from bench.plan import Case
from bench.profiles import PROFILES
from bench.results import CaseResult
from bench.session import BenchSession
from bench.timing import rewarm


class FakeGpuBackend(StandInBackend):
    def gpus(self):
        return [Device("gpu:0", "Fake H100", 80_000), Device("gpu:1", "Fake H100", 80_000)]

    def tf32_enabled(self):
        return True


@pytest.fixture
def fake_gpu_session(monkeypatch):
    monkeypatch.setattr("bench.backends.active", lambda: FakeGpuBackend())
    return lambda **values: BenchSession(HarnessConfig.from_values(values))


def test_gpu_expands_to_every_gpu_present(fake_gpu_session):
    session = fake_gpu_session(models="mnist_cnn", modes="infer", batch_sizes="1")
    assert session.plan.requested_devices() == ["cpu", "gpu:0", "gpu:1"]
    assert [c.id for c in session.plan.cases()] == ["mnist_cnn-infer-cpu-b1", "mnist_cnn-infer-gpu:0-b1",
                                               "mnist_cnn-infer-gpu:1-b1"]
    assert session.plan.gpu_count() == 2


def test_passes_go_through_the_whole_matrix_in_turn(fake_gpu_session):
    session = fake_gpu_session(models="mnist_cnn", modes="infer,train", batch_sizes="1", devices="cpu,gpu:5",
                               passes="3")
    order = [(case.id, number) for case, number in session.plan.timed_passes()]
    runnable = ["mnist_cnn-infer-cpu-b1", "mnist_cnn-train-cpu-b1"]
    absent = ["mnist_cnn-infer-gpu:5-b1", "mnist_cnn-train-gpu:5-b1"]
    assert order == ([(runnable[0], 1), (runnable[1], 1), (absent[0], 1), (absent[1], 1)]
                     + [(runnable[1], 2), (runnable[0], 2), (runnable[0], 3), (runnable[1], 3)])


def test_each_pass_starts_a_models_cases_at_another_one(fake_gpu_session):
    session = fake_gpu_session(models="mnist_cnn,imdb_lstm", modes="forward,infer", batch_sizes="1,8",
                               devices="cpu", passes="5")
    passes = session.plan.timed_passes()
    for n in range(1, 6):
        order = [case.id for case, number in passes if number == n]
        assert sorted(order) == sorted(case.id for case in session.plan.cases())
        models = [name.split("-")[0] for name in order]
        assert models == sorted(models, key=models.index)  # each model's cases together: built once
        firsts = [order[0], order[4]]
        assert firsts == [f"{model}-{['forward-cpu-b1', 'forward-cpu-b8', 'infer-cpu-b1', 'infer-cpu-b8'][(n - 1) % 4]}"
                          for model in ("mnist_cnn", "imdb_lstm")]


def test_server_cases_are_one_per_load_level_and_search_in_one_pass(fake_gpu_session):
    session = fake_gpu_session(models="mnist_cnn", devices="cpu,gpu:0", scenario="server", qps="100,20",
                               latency_bound="15", max_batch="4")
    cases = session.plan.cases()
    assert [c.id for c in cases] == ["mnist_cnn-serve-cpu-b4-q20", "mnist_cnn-serve-cpu-b4-q100",
                                     "mnist_cnn-serve-cpu-b4-p99le15ms", "mnist_cnn-serve-gpu:0-b4-q20",
                                     "mnist_cnn-serve-gpu:0-b4-q100", "mnist_cnn-serve-gpu:0-b4-p99le15ms"]
    assert [c.load.label for c in cases[:3]] == ["20 qps", "100 qps", "p99<=15 ms"]
    assert {c.mode for c in cases} == {"infer"}
    assert [number for _, number in session.plan.timed_passes()] == [1] * 6  # a level is one unbroken stretch


def test_a_gpu_that_is_not_there_is_skipped_with_what_is(fake_gpu_session):
    session = fake_gpu_session(devices="gpu:1,gpu:3")
    assert session.plan.requested_devices() == ["gpu:1", "gpu:3"]
    assert session.plan.missing_device_reason("gpu:1") is None
    assert session.plan.missing_device_reason("gpu:3") == "gpu:3 not present: the tensorflow backend sees only gpu:0, gpu:1"


@pytest.mark.parametrize("step_s,calls", [(0.001, 50), (0.03, 2), (0.05, 0), (0.4, 0)])
def test_a_later_pass_rewarms_short_steps_only_by_a_count(step_s, calls):
    # A count from the warm step time, never a clock: every process of a multi-process run makes the same calls.
    made = []
    assert rewarm(lambda: made.append(1), step_s) == calls
    assert len(made) == calls


def test_a_failure_drops_only_the_failed_model(fake_gpu_session):
    session = fake_gpu_session(models="mnist_cnn,imdb_lstm", modes="infer", batch_sizes="1")
    failed, other = (Case("imdb_lstm", "infer", "cpu", 1), Case("mnist_cnn", "infer", "cpu", 1))
    cpu = Device("cpu", "Fake CPU")
    runner = session.runner
    runner._models = {runner._model_key(case, cpu): object() for case in (failed, other)}
    result = CaseResult(device="cpu", model="imdb_lstm", mode="infer", batch_size=1, precision="float32", status="ok")
    runner.forget(result, runner._model_key(failed, cpu))
    assert list(runner._models) == [runner._model_key(other, cpu)]


def test_batch_one_inference_by_either_path_gets_rounds_for_a_p99():
    tails = {(mode, batch, replicas) for mode in ("forward", "infer", "predict", "train") for batch in (1, 32)
             for replicas in (0, 2) if Case("m", mode, "cpu", batch, replicas).needs_tail}
    assert tails == {("forward", 1, 0), ("infer", 1, 0)}
    assert PROFILES["quick"].rounds_for(0.05, tail=True) == 299 > PROFILES["quick"].rounds_for(0.05)
    assert PROFILES["quick"].rounds_for(0.5, tail=True) == 60  # what fits in 30 s, and no p99
