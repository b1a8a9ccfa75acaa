"""What a session will run: the devices present, the matrix of cases and the order of their passes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bench import backends
from bench.backends import Device
from bench.options import HarnessConfig


@dataclass(frozen=True)
class Load:
    """A server case's load: a fixed offered rate, or a search for the highest rate within a p99 bound."""

    qps: float | None = None
    bound_ms: float | None = None

    @property
    def label(self) -> str:
        """The row's `load` column, which keys server rows across runs: "100 qps", "p99<=20 ms"."""
        return f"{self.qps:g} qps" if self.qps else f"p99<={self.bound_ms:g} ms"

    @property
    def id(self) -> str:
        return f"q{self.qps:g}" if self.qps else f"p99le{self.bound_ms:g}ms"


@dataclass(frozen=True)
class Case:
    """One measurement: a model, in a mode, on a device, at a batch size (a server case: its largest
    batch) under a load (server cases only)."""

    model: str
    mode: str
    device: str
    batch_size: int  # the global batch
    replicas: int = 0  # 0: one device; N: data-parallel over N devices
    load: Load | None = None  # None: the batch scenario

    @property
    def needs_tail(self) -> bool:
        """Batch-1 inference, through Keras or the compiled forward function: where a serving system feels the
        tail, so it gets rounds enough for a p99 (both, so that the per-call floor compares like with like)."""
        return self.mode in ("forward", "infer") and self.batch_size == 1 and not self.replicas

    @property
    def id(self) -> str:
        if self.load:
            return f"{self.model}-serve-{self.device}-b{self.batch_size}-{self.load.id}"
        if self.replicas:
            return f"{self.model}-{self.mode}-{self.device}-r{self.replicas}-b{self.batch_size // self.replicas}"
        return f"{self.model}-{self.mode}-{self.device}-b{self.batch_size}"


def device_table(backend) -> dict[str, Device]:
    """The CPU and every GPU `backend` sees, by harness name."""
    from bench.environment import cpu_model

    return {"cpu": Device("cpu", cpu_model()), **{gpu.name: gpu for gpu in backend.gpus()}}


class Plan:
    """The cases the options select on the devices present, in run order.

    Asking for the devices imports Keras: the plugin does so only once the backend is chosen.
    """

    def __init__(self, config: HarnessConfig):
        self.config = config
        self._devices: dict[str, Device] | None = None

    def devices(self) -> dict[str, Device]:
        """The devices present, by harness name."""
        if self._devices is None:
            self._devices = device_table(backends.active())
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

    def device_for(self, case: Case) -> Device:
        """The device a case runs on (data-parallel cases: all of the replica device)."""
        return self.replica_device() if case.replicas else self.devices()[case.device]

    def cases(self) -> list[Case]:
        """Every case in run order: grouped by model and device, so each model is built once."""
        config = self.config
        if config.serving:
            serving = config.serving
            loads = [Load(qps=qps) for qps in serving.qps]
            loads += [Load(bound_ms=serving.latency_bound_ms)] if serving.latency_bound_ms else []
            return [Case(model, "infer", device, serving.max_batch, load=load)
                    for model in config.models
                    for device in self.requested_devices()
                    for load in loads]
        if config.replicas:
            return [Case(model, "train", self.replica_device().name, per_replica * count, replicas=count)
                    for model in config.models
                    for count in config.replicas
                    for per_replica in config.batch_sizes]
        return [Case(model, mode, device, batch_size)
                for model in config.models
                for device in self.requested_devices()
                for mode in config.modes
                for batch_size in config.batch_sizes]

    def timed_passes(self) -> list[tuple[Case, int]]:
        """(case, pass number) in run order: pass 1 of every case, then pass 2 of every case, ...

        Pass n starts each model's cases on a device at its (n-1)th case, in turn: the first case after a
        model change runs on caches and memory the previous model left (on a 2-core VM, PyTorch's
        resnet50 took ~10 calls to come back: docs/measurements-forward.md), and a fixed order would
        hand that cost to one case, always the same. Cases that will be skipped (their device is absent)
        get pass 1 only, as do server cases (a load level is one unbroken stretch of arrivals).
        """
        cases = self.cases()
        later = [case for case in cases if not case.load
                 and (case.replicas or not self.missing_device_reason(case.device))]
        return [(case, 1) for case in cases] + [(case, n) for n in range(2, self.config.passes + 1)
                                                for case in _rotated_groups(later, n - 1)]

    def missing_device_reason(self, name: str) -> str | None:
        """Why a case on device `name` cannot run here, or None when the device is present."""
        if name in self.devices():
            return None
        present = [n for n, d in self.devices().items() if d.is_gpu]
        seen = f"sees only {', '.join(present)}" if present else "sees no GPU"
        hint = self.gpu_hint()
        return f"{name} not present: the {self.config.backend} backend {seen}" + (f"; {hint}" if hint else "")

    def no_gpu_error(self) -> str:
        """--require-gpu's line, for a backend that sees no GPU (with what to type, where the machine has one)."""
        hint = self.gpu_hint()
        return f"--require-gpu: the {self.config.backend} backend sees no GPU" + (f"; {hint}" if hint else "")

    def gpu_hint(self) -> str | None:
        """What to type, on a machine with NVIDIA GPUs of which the backend sees none; None elsewhere."""
        from bench import hardware

        gpus = hardware.nvidia_gpus()
        if not gpus or self.gpu_count():
            return None
        return backends.gpu_hint(backends.active(), gpus)


def _rotated_groups(cases: list[Case], by: int) -> list[Case]:
    """`cases` with each run of one model on one device rotated left by `by`."""
    rotated = []
    for _, group in itertools.groupby(cases, key=lambda case: (case.model, case.device)):
        group = list(group)
        start = by % len(group)
        rotated += group[start:] + group[:start]
    return rotated
