"""Running one case: build the model, place it and its batch, measure it pass by pass, and turn a
failure into the case's row."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

import models
from bench import backends, device_time
from bench.backends import Device
from bench.meters import DeviceEnergy, DeviceMemory, HostMemory
from bench.options import JIT_COMPILE, HarnessConfig
from bench.plan import Case, Plan
from bench.results import CaseResult
from bench.timing import MODE_STEPS, first_call_and_warmup, rewarm, timed_for, timed_rounds


@dataclass
class _CaseState:
    """What later passes of a measured case need: its row, its timed call and where it runs."""

    result: CaseResult
    call: Callable[[], object]
    scope: Callable[[], contextlib.AbstractContextManager]
    device: Device
    single_device: bool  # device memory and energy are read per GPU
    step_s: float
    model_key: tuple
    tail: bool  # takes rounds enough for a p99 (Case.needs_tail)
    table_row: object = None  # pytest-benchmark's row of pass 1, which later passes join
    joules: float = 0.0
    samples: list[tuple[int, float]] = field(default_factory=list)  # (pass, seconds) of every timed round


class CaseRunner:
    """Measures the cases of a session, builds each model once, and keeps every case's row."""

    def __init__(self, config: HarnessConfig, plan: Plan):
        self.config = config
        self.plan = plan
        self.results: list[CaseResult] = []
        self._states: dict[Case, _CaseState] = {}  # measured cases, for their later passes
        self._models: dict[tuple, object] = {}
        self._endpoints: dict[tuple, object] = {}  # (model, device) -> its warm serving.Endpoint
        self._served: list[tuple[CaseResult, list[tuple[int, float]]]] = []  # server rows and their queries
        self._served_entries: list[tuple[CaseResult, object]] = []  # server rows and their pytest-benchmark entries

    @property
    def backend(self):
        return backends.active()

    @property
    def samples(self) -> list[tuple[CaseResult, list[tuple[int, float]]]]:
        """Each measured case's (pass, seconds) rounds, in run order."""
        return [(state.result, state.samples) for state in self._states.values()] + self._served

    @property
    def benchmark_entries(self) -> list[tuple[CaseResult, object]]:
        """Each measured case's row and its pytest-benchmark entry (pass 1's, which holds all its rounds)."""
        return [(state.result, state.table_row) for state in self._states.values()] + self._served_entries

    def run(self, case: Case, pass_number: int, benchmark) -> None:
        """Measures one pass of one case; skips or fails the test as the case does.

        Pass 1 builds and places the case, times its first call and warms it up;
        every pass then times its share of the rounds. The row is updated after
        each pass, so an interrupted session still writes what it measured.
        """
        benchmark.group = case.model  # pytest-benchmark's table: one group per model
        if pass_number > 1:
            if benchmark.disabled:
                pytest.skip("--benchmark-disable: one smoke call per case, in pass 1")
            state = self._states.get(case)
            if state is None:
                pytest.skip("pass 1 of this case did not measure it")
            self._guarded(state.result, lambda: self.timed_pass(state, pass_number, benchmark))
            return
        reason = None if case.replicas else self.plan.missing_device_reason(case.device)
        load = {"scenario": "server", "load": case.load.label} if case.load else {}
        if reason:
            self.results.append(CaseResult(device=case.device, model=case.model, mode=case.mode, **load,
                                           model_sha256=self.config.spec(case.model).sha256,
                                           batch_size=case.batch_size, precision=self._precision(),
                                           status="skipped", message=reason))
            pytest.skip(reason)
        device = self.plan.device_for(case)
        spec = self.config.spec(case.model)
        result = CaseResult(device=case.device, device_name=device.description, model=case.model,
                            model_sha256=spec.sha256, mode=case.mode, training_setup=spec.training_setup
                            if case.mode == "train" else "",
                            batch_size=case.batch_size, precision=self._precision(), status="ok", **load,
                            replicas=case.replicas or 1, logical_devices=bool(case.replicas) and not device.is_gpu)
        measure = self._serve if case.load else self._first_pass
        self._guarded(result, lambda: measure(case, device, result, benchmark), model_key=self._model_key(case, device))

    def _guarded(self, result: CaseResult, measure, model_key: tuple | None = None) -> None:
        """Runs `measure`; a failure becomes the case's row (error or oom) and ends its passes."""
        try:
            measure()
        except pytest.exit.Exception:  # a usage error found late (a batch too large): no row, the session stops
            raise
        except Exception as error:  # recorded as a row, then reported by pytest
            self.forget(result, model_key)
            if not any(row is result for row in self.results):
                self.results.append(result)
            oom = self.backend.is_out_of_memory(error)
            result.status = "oom" if oom else "error"
            result.message = _one_line(error)
            if oom:
                pytest.skip(f"out of memory: {result.message}")
            raise

    def forget(self, result: CaseResult, model_key: tuple | None) -> None:
        """Drops a failed case's state, samples and figures, and its model: a failed call can leave
        a model half-built, so the next case of that model builds it again (the others keep theirs)."""
        failed = [state for state in self._states.values() if state.result is result]
        self._states = {case: state for case, state in self._states.items() if state.result is not result}
        result.clear_measurements()
        for key in {model_key, *(state.model_key for state in failed)} - {None}:
            self._models.pop(key, None)

    def _first_pass(self, case: Case, device: Device, result: CaseResult, benchmark) -> None:
        import keras

        backend = self.backend
        spec = self.config.spec(case.model)
        engine = backend.data_parallel(case.replicas, on_gpu=device.is_gpu) if case.replicas else None
        scope = engine.scope if engine else (lambda: backend.device_scope(device))
        with scope():
            model = self._built_model(case, device)
            self._describe(result, model, device)
            if engine:  # the engine places each replica's slice of the batch itself
                call = engine.train_step(model, *spec.synthetic_batch(case.batch_size))
            else:
                x, y = keras.tree.map_structure(lambda array: backend.to_device(array, device),
                                                spec.synthetic_batch(case.batch_size))
                _check_placement(backend, device, weights=model.weights[0].value,
                                 inputs=keras.tree.flatten(x)[0])
                step = MODE_STEPS[case.mode](model, x, y, case.batch_size)

                def call():
                    step()
                    backend.synchronize(device)

            warmup = first_call_and_warmup(call, profile=self.config.profile, smoke_only=benchmark.disabled,
                                           agree=backend.agree)
        result.first_call_ms = warmup.first_call_s * 1e3
        result.warmup_rounds = len(warmup.warmup_s)
        if benchmark.disabled:  # a smoke run: nothing to time or record
            return
        # Device memory and energy are read per GPU: left empty for cases spread over several.
        state = _CaseState(result, call, scope, device, single_device=engine is None, step_s=warmup.step_s,
                           model_key=self._model_key(case, device), tail=case.needs_tail)
        self.timed_pass(state, 1, benchmark)
        if device.is_gpu and engine is None:  # after the timed rounds: a profiler slows the calls it records
            with scope():
                result.device_ms, result.device_clock = device_time.measure(backend, call, device)
        self._states[case] = state
        self.results.append(result)

    def _describe(self, result: CaseResult, model, device: Device) -> None:
        """The row's model figures: parameters, XLA, FLOPs, and TensorFloat-32 on a GPU."""
        if device.is_gpu:  # TensorFloat-32 is a GPU's matmul format: a CPU row has none
            result.tf32 = "on" if self.backend.tf32_enabled() else "off"
        result.params = model.count_params()
        result.jit_compile = "on" if model.jit_compile else "off"
        factor = models.TRAIN_FLOPS_FACTOR if result.mode == "train" else 1
        result.flops_per_sample = factor * models.forward_flops(model)

    def _serve(self, case: Case, device: Device, result: CaseResult, benchmark) -> None:
        """A server case: its model's endpoint (its first server case's, warm), then its load (bench/serving/)."""
        from bench.serving.levels import fill_row, level_runner, measure_load

        serving = self.config.serving
        with self.backend.device_scope(device):
            model = self._built_model(case, device)
            self._describe(result, model, device)
            endpoint = self._endpoints.get((case.model, device.name))
            if endpoint is None:
                endpoint = self._endpoint(model, case, device, smoke_only=benchmark.disabled)
                self._endpoints[(case.model, device.name)] = endpoint
            result.first_call_ms, result.warmup_rounds = endpoint.first_call_ms, endpoint.warmup_rounds
            if benchmark.disabled:  # a smoke run: nothing to time or record
                return
            figures, search = measure_load(level_runner(endpoint.serve, serving), case.load,
                                           capacity_qps=endpoint.capacity_qps, unloaded_ms=endpoint.unloaded_ms,
                                           serving=serving)
        fill_row(result, figures, search, max_delay_ms=serving.max_delay_ms)
        result.inputs = "device" if serving.inputs_on_device else "host"
        self.results.append(result)
        seconds = figures.latencies_ms / 1e3 if figures is not None else []
        self._served.append((result, [(1, second) for second in seconds]))
        if figures is not None:
            self._served_entries.append((result, _table_row_of_queries(benchmark, seconds)))

    def _endpoint(self, model, case: Case, device: Device, *, smoke_only: bool):
        """The model's warm endpoint; a largest batch the device cannot hold stops the session, as a bad option does."""
        from bench.serving.endpoint import Endpoint

        try:
            endpoint = Endpoint(model, self.config.spec(case.model), self.backend, device, case.batch_size,
                                inputs_on_device=self.config.serving.inputs_on_device)
            endpoint.warm_up(self.config.profile, smoke_only=smoke_only)
            return endpoint
        except Exception as error:
            if not self.backend.is_out_of_memory(error):
                raise
            pytest.exit(f"--max-batch: {case.batch_size} queries in one batch of {case.model} do not fit on "
                        f"{device.name} ({_one_line(error)[:120]}); give a smaller --max-batch",
                        returncode=pytest.ExitCode.USAGE_ERROR)

    def measured(self, case: Case) -> bool:
        """Whether pass 1 measured `case` (its model is built and warm)."""
        return case in self._states

    def timed_block(self, case: Case, seconds: float) -> list[float]:
        """`seconds` of calls of a case measured before (its pass 1 built and warmed it): the paired gate's
        block (bench.worker). Each call's seconds."""
        state = self._states[case]
        with state.scope():
            return timed_for(state.call, seconds)

    def timed_pass(self, state: _CaseState, pass_number: int, benchmark) -> None:
        """Times one pass's share of the case's rounds and updates its row."""
        profile, result = self.config.profile, state.result
        energy = DeviceEnergy(state.device) if state.single_device else contextlib.nullcontext()
        device_memory = DeviceMemory(self.backend, state.device) if state.single_device else contextlib.nullcontext()
        with state.scope():
            if pass_number > 1:
                rewarm(state.call, state.step_s)
            with HostMemory() as host_memory, device_memory:
                rounds = profile.rounds_per_pass(state.step_s, self.config.passes, tail=state.tail)
                seconds = timed_rounds(state.call, rounds=rounds, benchmark=benchmark, after_round=host_memory.sample,
                                       rounds_meter=energy, table_row=state.table_row)
        if state.table_row is None:  # pass 1's row, made by pedantic
            state.table_row = benchmark.stats
        state.samples += [(pass_number, second) for second in seconds]
        result.passes = pass_number
        result.peak_rss_mb = _peak(result.peak_rss_mb, host_memory.peak_mb)
        if state.single_device and device_memory.peak_mb is not None:
            result.device_peak_mb = _peak(result.device_peak_mb, device_memory.peak_mb)
        result.with_latency([second for _, second in state.samples])
        if state.single_device and energy.joules is not None:
            state.joules += energy.joules
            result.energy_j = state.joules / len(state.samples)
            result.samples_per_j = result.batch_size / result.energy_j if result.energy_j > 0 else math.nan

    def _built_model(self, case: Case, device: Device):
        """The compiled model for the case's model and device, built once and reused (with one pass only the
        latest is kept; data-parallel cases get one per batch size: the engine binds its train function to one
        input pipeline)."""
        key = self._model_key(case, device)
        if key not in self._models:
            if self.config.passes == 1:
                self._models.clear()  # release the previous model before building the next
            spec = self.config.spec(case.model)
            self._models[key] = spec.build(jit_compile=JIT_COMPILE[self.config.jit_compile])
        return self._models[key]

    @staticmethod
    def _model_key(case: Case, device: Device) -> tuple:
        return case.model, device.name, case.replicas, case.batch_size if case.replicas else 0

    def _precision(self) -> str:
        import keras

        return keras.config.dtype_policy().name


def _table_row_of_queries(benchmark, seconds):
    """Gives a server case a row in pytest-benchmark's table (and its JSON): its queries' latencies as
    the rounds. The level was timed by the load generator's clock, so the row is filled, not timed."""
    benchmark.pedantic(lambda: None, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.stats.stats.__dict__ = {"data": [float(second) for second in seconds]}
    return benchmark.stats


def _peak(so_far: float, new: float) -> float:
    return new if math.isnan(so_far) else max(so_far, new)


def _check_placement(backend, device, **tensors):
    """Refuses to time a case whose weights or inputs sit on another device."""
    for what, tensor in tensors.items():
        holder = backend.device_of(tensor)
        if holder != device.name:
            raise RuntimeError(f"the model's {what} are on {holder}, not on {device.name}: the case would "
                               f"not measure {device.name}")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:300]
