"""What every backend answers: the Backend base class, the Device it measures on, and its errors.

Keras (and the backend library) are imported only inside the methods, after
the plugin has set KERAS_BACKEND.
"""

from __future__ import annotations

import abc
import importlib.metadata
from dataclasses import dataclass

_OOM_MARKERS = ("RESOURCE_EXHAUSTED", "ResourceExhausted", "out of memory", "OutOfMemory", "OOM when allocating")


class DataParallelUnsupported(RuntimeError):
    def __init__(self, backend_name):
        super().__init__(f"--replicas: the {backend_name} backend has no data-parallel engine in this harness; "
                         "use --backend tensorflow (tf.distribute) or jax (keras.distribution)")


class ThreadsUnsupported(RuntimeError):
    def __init__(self, backend_name):
        super().__init__(f"--threads: the {backend_name} backend's thread pools cannot be set by this harness; "
                         "accepted: auto")


class MultiProcessUnsupported(RuntimeError):
    def __init__(self, backend_name):
        super().__init__(f"{PROCESSES_VARIABLE}: the {backend_name} backend cannot join several processes in this "
                         "harness (Keras 3's train step fails under TensorFlow's MultiWorkerMirroredStrategy); "
                         "use --backend jax")


# Keras' own variables for a multi-process run (keras.distribution.initialize reads them).
PROCESSES_VARIABLE = "KERAS_DISTRIBUTION_NUM_PROCESSES"


@dataclass(frozen=True)
class Device:
    """A device the harness measures on.

    Args:
        name: the harness's name: "cpu" or "gpu:N".
        description: what the hardware is (GPU model, or the CPU's model).
        memory_mb: the device's total memory, where known.
    """

    name: str
    description: str
    memory_mb: float | None = None

    @property
    def is_gpu(self) -> bool:
        return self.name.startswith("gpu")

    @property
    def index(self) -> int:
        """The device's number among its kind: N in "gpu:N"; 0 for the CPU."""
        return int(self.name.split(":")[1]) if self.is_gpu else 0

    @property
    def keras_name(self) -> str:
        """The name `keras.device()` takes ("cpu:0" would break Keras' torch backend,
        whose variables then leave the device scope as plain tensors)."""
        return self.name


class Backend(abc.ABC):
    """The operations whose code differs per backend."""

    name = ""
    package = ""  # the distribution whose version is recorded
    install_hint = ""  # the command that installs it

    def version(self) -> str:
        return importlib.metadata.version(self.package)

    @abc.abstractmethod
    def gpus(self) -> list[Device]:
        """The GPUs this backend sees, as gpu:0, gpu:1, ..."""

    @abc.abstractmethod
    def to_device(self, array, device: Device):
        """`array` (numpy) as a tensor resident on `device`."""

    def device_scope(self, device: Device):
        """The context in which Keras builds and runs on `device`."""
        import keras

        return keras.device(device.keras_name)

    @abc.abstractmethod
    def device_of(self, tensor) -> str:
        """The harness name ("cpu", "gpu:N") of the device holding `tensor`."""

    def synchronize(self, device: Device) -> None:
        """Waits until `device` has finished all work queued on it."""

    @abc.abstractmethod
    def forward_step(self, model, x):
        """The `forward` mode's step: a call of the model's compiled forward function on `x` (already on the
        device), the weights as they sit there; its outputs stay on the device, where `synchronize` (which
        follows every step) waits for them. No Keras predict machinery: what a deployment would call."""

    def device_time(self, call, calls: int, device: Device):
        """The device's busy time per call of `call` over `calls` more calls, read by this backend's profiler
        (a bench.device_time.DeviceTime); None where it cannot tell: every CPU row, and a trace without a
        device event."""
        return None

    def reset_peak_memory(self, device: Device) -> None:
        """Starts a new peak-memory window on `device`, where the backend can."""

    def peak_memory_mb(self, device: Device) -> float | None:
        """Peak memory allocated on `device` since the last reset, where reported."""
        return None

    @abc.abstractmethod
    def tf32_enabled(self) -> bool:
        """Whether float32 matmuls may run in TensorFloat-32 on a GPU that has it."""

    @abc.abstractmethod
    def set_tf32(self, enabled: bool) -> None:
        """Allows or forbids TensorFloat-32 for float32 matmuls and convolutions."""

    def set_threads(self, intra_op: int, inter_op: int) -> None:
        """Fixes the CPU thread pools: threads inside one op, and ops run at once. Must run before
        the backend starts; on a small machine the pools otherwise fight over the cores."""
        raise ThreadsUnsupported(self.name)

    @property
    def sets_threads(self) -> bool:
        """Whether this harness can fix the backend's CPU thread pools (`set_threads`)."""
        return type(self).set_threads is not Backend.set_threads

    def threads(self) -> dict:
        """The pools' sizes in force, for the run's rows: None where the backend picks its own."""
        return {"intra_op_threads": None, "inter_op_threads": None}

    def split_cpu(self, count: int) -> None:
        """Shows the CPU as `count` logical devices; must run before the backend starts."""
        raise DataParallelUnsupported(self.name)

    def join_processes(self) -> None:
        """Joins the other processes of a multi-process run (Keras' KERAS_DISTRIBUTION_* variables)."""
        raise MultiProcessUnsupported(self.name)

    def process_index(self) -> int:
        return 0

    def agree(self, value):
        """`value` as process 0 has it: in a multi-process run every process must make the same calls."""
        return value

    def data_parallel(self, count: int, *, on_gpu: bool):
        """The backend's own data-parallel engine over `count` devices (GPUs, else logical CPUs)."""
        raise DataParallelUnsupported(self.name)

    def gpu_command(self, cuda_major: int) -> str:
        """The command that gives this backend NVIDIA GPU support, for a driver that runs CUDA `cuda_major`."""
        return ""

    def is_out_of_memory(self, error: BaseException) -> bool:
        return isinstance(error, MemoryError) or any(m in str(error) for m in _OOM_MARKERS)




def distribution_installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def bytes_to_mb(value):
    return None if value is None else value / 2**20
