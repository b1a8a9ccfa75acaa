"""One benchmark session: the cases it runs, the models it builds, the rows it writes."""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import models
from bench import backends
from bench.backends import Device
from bench.measure import (
    MODE_STEPS,
    DeviceEnergy,
    DeviceMemory,
    HostMemory,
    first_call_and_warmup,
    rewarm,
    timed_rounds,
)
from bench.options import JIT_COMPILE, TF32, HarnessConfig
from bench.results import CaseResult, rounds_needed
from bench.runs import WrittenRun, fallback_dir, save_run

SOURCE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    """One measurement: a model, in a mode, on a device, at a batch size."""

    model: str
    mode: str
    device: str
    batch_size: int  # the global batch
    replicas: int = 0  # 0: one device; N: data-parallel over N devices

    @property
    def latency_bound(self) -> bool:
        """Batch-1 inference: where a serving system feels the tail, so it gets rounds enough for a p99."""
        return self.mode == "infer" and self.batch_size == 1 and not self.replicas

    @property
    def id(self) -> str:
        if self.replicas:
            return f"{self.model}-{self.mode}-{self.device}-r{self.replicas}-b{self.batch_size // self.replicas}"
        return f"{self.model}-{self.mode}-{self.device}-b{self.batch_size}"


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
    tail: bool  # takes rounds enough for a p99 (Case.latency_bound)
    joules: float = 0.0
    samples: list[tuple[int, float]] = field(default_factory=list)  # (pass, seconds) of every timed round


class BenchSession:
    """Holds the parsed options, builds each model once, and collects the rows."""

    def __init__(self, config: HarnessConfig):
        self.config = config
        self.results: list[CaseResult] = []
        self._states: dict[Case, _CaseState] = {}  # measured cases, for their later passes
        self._models: dict[tuple, object] = {}
        self.written: WrittenRun | None = None
        self.unwritten: str | None = None  # why the run could be written nowhere
        self.report: Path | str | None = None  # the report's page, or why there is none
        self._devices: dict[str, Device] | None = None
        self._fingerprint: dict | None = None
        self.collected = False  # set when benchmark cases are collected
        self._prepared = False

    # -- collection -----------------------------------------------------------

    @property
    def backend(self):
        return backends.active()

    def devices(self) -> dict[str, Device]:
        """The devices present, by harness name (imports Keras: call after configure)."""
        if self._devices is None:
            self._devices = device_table(self.backend)
        return self._devices

    def gpu_count(self) -> int:
        return sum(device.is_gpu for device in self.devices().values())

    def requested_devices(self) -> list[str]:
        """--devices expanded: "gpu" becomes every GPU present, or stays "gpu" (to be skipped)."""
        present_gpus = [name for name, device in self.devices().items() if device.is_gpu]
        expanded = []
        for name in self.config.devices:
            if name == "gpu":
                expanded += present_gpus or ["gpu"]
            else:
                expanded.append(name)
        return list(dict.fromkeys(expanded))

    def replica_device(self) -> Device:
        """Where data-parallel cases run: the GPUs if asked for and present, else the logical CPUs."""
        gpus = [d for d in self.devices().values() if d.is_gpu]
        if gpus and any(name.startswith("gpu") for name in self.config.devices):
            return Device("gpu", ", ".join(sorted({d.description for d in gpus})))
        return Device("cpu", f"logical devices on {self.devices()['cpu'].description}")

    def replica_capacity(self) -> int:
        """How many replicas the replica device can hold: one per GPU, or per usable CPU core."""
        from bench.environment import usable_cores

        return self.gpu_count() if self.replica_device().is_gpu else usable_cores()

    def cases(self) -> list[Case]:
        """Every case in run order: grouped by model and device, so each model is built once."""
        if self.config.replicas:
            return [Case(model, "train", self.replica_device().name, per_replica * count, replicas=count)
                    for model in self.config.models
                    for count in self.config.replicas
                    for per_replica in self.config.batch_sizes]
        return [Case(model, mode, device, batch_size)
                for model in self.config.models
                for device in self.requested_devices()
                for mode in self.config.modes
                for batch_size in self.config.batch_sizes]

    def timed_passes(self) -> list[tuple[Case, int]]:
        """(case, pass number) in run order: pass 1 of every case, then pass 2 of every case, ...

        Cases that will be skipped (their device is absent) get pass 1 only.
        """
        cases = self.cases()
        later = [case for case in cases if case.replicas or not self.missing_device_reason(case.device)]
        return [(case, 1) for case in cases] + [(case, n) for n in range(2, self.config.passes + 1) for case in later]

    def missing_device_reason(self, name: str) -> str | None:
        if name in self.devices():
            return None
        present = [n for n, d in self.devices().items() if d.is_gpu]
        seen = f"sees only {', '.join(present)}" if present else "sees no GPU"
        return f"{name} not present: the {self.config.backend} backend {seen}"

    # -- running --------------------------------------------------------------

    def run(self, case: Case, pass_number: int, benchmark) -> None:
        """Measures one pass of one case; skips or fails the test as the case does.

        Pass 1 builds and places the case, times its first call and warms it up;
        every pass then times its share of the rounds. The row is updated after
        each pass, so an interrupted session still writes what it measured.
        """
        self._prepare()
        if pass_number > 1:
            if benchmark.disabled:
                pytest.skip("--benchmark-disable: one smoke call per case, in pass 1")
            state = self._states.get(case)
            if state is None:
                pytest.skip("pass 1 of this case did not measure it")
            self._guarded(state.result, lambda: self._timed_pass(state, pass_number, benchmark))
            return
        reason = None if case.replicas else self.missing_device_reason(case.device)
        if reason:
            self._record(CaseResult(case.device, "", case.model, 0, case.mode, case.batch_size,
                                    self._precision(), "", status="skipped", message=reason))
            pytest.skip(reason)
        device = self.replica_device() if case.replicas else self.devices()[case.device]
        result = CaseResult(case.device, device.description, case.model, 0, case.mode, case.batch_size,
                            self._precision(), "", status="ok", replicas=case.replicas or 1,
                            logical_devices=bool(case.replicas) and not device.is_gpu)
        self._guarded(result, lambda: self._first_pass(case, device, result, benchmark),
                      model_key=self._model_key(case, device))

    def _guarded(self, result: CaseResult, measure, model_key: tuple | None = None) -> None:
        """Runs `measure`; a failure becomes the case's row (error or oom) and ends its passes."""
        try:
            measure()
        except Exception as error:  # recorded as a row, then reported by pytest
            self._forget(result, model_key)
            if not any(row is result for row in self.results):
                self._record(result)
            oom = self.backend.is_out_of_memory(error)
            result.status = "oom" if oom else "error"
            result.message = _one_line(error)
            if oom:
                pytest.skip(f"out of memory: {result.message}")
            raise

    def _forget(self, result: CaseResult, model_key: tuple | None) -> None:
        """Drops a failed case's state, samples and figures, and its model: a failed call can leave
        a model half-built, so the next case of that model builds it again (the others keep theirs)."""
        failed = [state for state in self._states.values() if state.result is result]
        self._states = {case: state for case, state in self._states.items() if state.result is not result}
        result.clear_measurements()
        for key in {model_key, *(state.model_key for state in failed)} - {None}:
            self._models.pop(key, None)

    def _prepare(self) -> None:
        """Once, before the first case: the dtype policy, TF32, and the calibration workload."""
        if self._prepared:
            return
        import keras

        keras.config.set_dtype_policy(self.config.precision)
        if TF32[self.config.tf32] is not None:
            self.backend.set_tf32(TF32[self.config.tf32])
        self.fingerprint()  # times the calibration workload, before any model
        self._prepared = True

    def _first_pass(self, case, device, result, benchmark):
        backend = self.backend
        spec = models.get(case.model)
        if device.is_gpu:  # TensorFloat-32 is a GPU's matmul format: a CPU row has none
            result.tf32 = "on" if backend.tf32_enabled() else "off"
        engine = backend.data_parallel(case.replicas, on_gpu=device.is_gpu) if case.replicas else None
        scope = engine.scope if engine else (lambda: backend.device_scope(device))
        with scope():
            model = self._built_model(case, device)
            result.params = model.count_params()
            result.jit_compile = "on" if model.jit_compile else "off"
            factor = models.TRAIN_FLOPS_FACTOR if case.mode == "train" else 1
            result.flops_per_sample = factor * models.forward_flops(model)
            if engine:  # the engine places each replica's slice of the batch itself
                call = engine.train_step(model, *spec.synthetic_batch(case.batch_size))
            else:
                x, y = (backend.to_device(array, device) for array in spec.synthetic_batch(case.batch_size))
                _check_placement(backend, device, weights=model.weights[0].value, inputs=x)
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
                           model_key=self._model_key(case, device), tail=case.latency_bound)
        self._timed_pass(state, 1, benchmark)
        self._states[case] = state
        self._record(result)

    def _timed_pass(self, state: _CaseState, pass_number: int, benchmark) -> None:
        profile, result = self.config.profile, state.result
        energy = DeviceEnergy(state.device) if state.single_device else contextlib.nullcontext()
        device_memory = DeviceMemory(self.backend, state.device) if state.single_device else contextlib.nullcontext()
        with state.scope():
            if pass_number > 1:
                rewarm(state.call, state.step_s)
            with HostMemory() as host_memory, device_memory:
                rounds = profile.rounds_per_pass(state.step_s, self.config.passes, tail=state.tail)
                seconds = timed_rounds(state.call, rounds=rounds,
                                       benchmark=benchmark, after_round=host_memory.sample, rounds_meter=energy)
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
        benchmark.extra_info.update({k: v for k, v in result.flat().items() if isinstance(v, (int, float))})

    def _built_model(self, case: Case, device: Device):
        """The compiled model for the case's model and device, built once and reused.

        With one pass only the latest model is kept alive; with several, every
        model stays until the end, as later passes come back to each case.
        Data-parallel cases get a model per batch size: the engine binds its
        train function to one input pipeline.
        """
        key = self._model_key(case, device)
        if key not in self._models:
            if self.config.passes == 1:
                self._models.clear()  # release the previous model before building the next
            self._models[key] = models.get(case.model).build(jit_compile=JIT_COMPILE[self.config.jit_compile])
        return self._models[key]

    @staticmethod
    def _model_key(case: Case, device: Device) -> tuple:
        return case.model, device.name, case.replicas, case.batch_size if case.replicas else 0

    def _precision(self) -> str:
        import keras

        return keras.config.dtype_policy().name

    def _record(self, result: CaseResult) -> None:
        self.results.append(result)

    @property
    def samples(self) -> list[tuple[CaseResult, list[tuple[int, float]]]]:
        """Each measured case's (pass, seconds) rounds, in run order."""
        return [(state.result, state.samples) for state in self._states.values()]

    # -- end of session ---------------------------------------------------------

    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            import keras

            from bench.calibration import calibrate
            from bench.environment import run_fingerprint

            backend = self.backend
            self._fingerprint = {
                **run_fingerprint(backend_name=backend.name, backend_version=backend.version(),
                                  keras_version=keras.__version__, source_dir=SOURCE_DIR),
                "processes": backends.requested_processes(), "process_id": backend.process_index(),
                **calibrate(backend.device_scope(self.devices()["cpu"])),
            }
        return self._fingerprint

    def finish(self) -> None:
        """Writes the run's files, if any case was measured or skipped: where asked, else in the fallback."""
        if not self.results:
            return
        _fill_scaling_efficiency(self.results)
        try:
            self.written = save_run(self.config.results_dir, self.fingerprint(), self.results, self.samples)
        except OSError as error:
            self.unwritten = f"{self.config.results_dir} and the fallback {fallback_dir()}: {error}"
            return
        if self.config.report:
            self._write_report(self.written.run)

    def _write_report(self, run_path: Path) -> None:
        from bench.report import write_report
        from bench.runs import RunFileError

        try:
            self.report = write_report([str(run_path)], run_path.with_name(run_path.stem + "-report"))
        except (RunFileError, OSError) as error:  # e.g. no case ran ok: nothing to plot
            self.report = f"no report: {error}"

    def summary_lines(self) -> list[str]:
        """The compact end-of-run table, with GPU/CPU speedups where both ran."""
        ok = [r for r in self.results if r.status == "ok"]
        lines = []
        if ok:
            lines.append(f"{'model':<22}{'mode':<9}{'batch':>6}  {'device':<7}{'median ms':>11}"
                         f"{'samples/s':>12}{'p99 ms':>10}{'first ms':>10}")
            cpu = {(r.model, r.mode, r.batch_size): r for r in ok if r.device == "cpu"}
            for r in ok:
                line = (f"{r.model:<22}{r.mode:<9}{r.batch_size:>6}  {r.device:<7}{r.latency.median_ms:>11.3f}"
                        f"{r.samples_per_s:>12.1f}{_figure(r.latency.p99_ms):>10}{r.first_call_ms:>10.0f}")
                base = cpu.get((r.model, r.mode, r.batch_size))
                if r.device != "cpu" and base:
                    line += f"  {base.latency.median_ms / r.latency.median_ms:.2f}x vs cpu"
                lines.append(line)
        others = Counter((r.status, r.message) for r in self.results if r.status != "ok")
        for (status, message), count in others.items():
            lines.append(f"{status} ({count} case{'s' if count > 1 else ''}): {message}")
        if ok and any(math.isnan(r.latency.p99_ms) for r in ok):
            lines.append(f"p99 -: fewer than {rounds_needed(0.99)} rounds, too few to support a p99")
        if self.written:
            where = f"results: {self.written.run}  (samples: {self.written.samples.name})"
            if self.written.refused:
                where += f", in the fallback directory: could not write to {self.written.refused}"
            lines.append(where)
        if self.unwritten:
            lines.append(f"results: NOT WRITTEN: {self.unwritten}")
        if self.report:
            lines.append(f"report: {self.report}")
        elif self.collected and not self.results:
            lines.append("no case was timed (--benchmark-disable or nothing selected): no results file written")
        return lines


def device_table(backend) -> dict[str, Device]:
    """The CPU and every GPU `backend` sees, by harness name."""
    from bench.environment import cpu_model

    return {"cpu": Device("cpu", cpu_model()), **{gpu.name: gpu for gpu in backend.gpus()}}


def _fill_scaling_efficiency(results: list[CaseResult]) -> None:
    """throughput(N) / (N x throughput(1)) for each data-parallel row, same per-replica batch.

    Data-parallel rows are those on logical CPU devices or on "gpu" (all GPUs, no
    index). A multi-process run cannot run 1 replica; its rows are set against the
    fewest replicas it ran, per replica: (throughput(N) / N) / (throughput(M) / M).
    """
    parallel = [r for r in results if r.status == "ok" and (r.logical_devices or r.device == "gpu")]
    base = {}
    for r in sorted(parallel, key=lambda r: r.replicas):
        base.setdefault((r.model, r.mode, r.device, r.per_replica_batch), r)
    for r in parallel:
        first = base[(r.model, r.mode, r.device, r.per_replica_batch)]
        r.scaling_efficiency = (r.samples_per_s / r.replicas) / (first.samples_per_s / first.replicas)


def _figure(value: float) -> str:
    """A latency for the summary table; '-' where the rounds could not support it."""
    return "-" if math.isnan(value) else f"{value:.3f}"


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
