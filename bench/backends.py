"""Everything that differs between Keras backends, in one place.

Each backend class answers the same questions: which GPUs are there, how to put
an array on a device, how to wait for a device, how much device memory a case
peaked at, and whether an exception is an out-of-memory. The rest of the
harness asks `active()` and never tests a backend's name.
Keras (and the backend library) are imported only inside these methods, after
the plugin has set KERAS_BACKEND.
"""

from __future__ import annotations

import abc
import importlib.metadata
import os
from dataclasses import dataclass

import numpy as np

BACKEND_NAMES = ("tensorflow", "jax", "torch")
# Install commands for a backend missing from this machine.
INSTALL_HINTS = {
    "tensorflow": "pip install tensorflow-cpu   (GPU: pip install 'tensorflow[and-cuda]')",
    "jax": "pip install jax   (GPU: pip install 'jax[cuda12]')",
    "torch": "pip install torch   (CPU-only host: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
}
_OOM_MARKERS = ("RESOURCE_EXHAUSTED", "ResourceExhausted", "out of memory", "OutOfMemory", "OOM when allocating")


class DataParallelUnsupported(RuntimeError):
    def __init__(self, backend_name):
        super().__init__(f"--replicas: the {backend_name} backend has no data-parallel engine in this harness; "
                         "use --backend tensorflow (tf.distribute) or jax (keras.distribution)")


class MultiProcessUnsupported(RuntimeError):
    def __init__(self, backend_name):
        super().__init__(f"{PROCESSES_VARIABLE}: the {backend_name} backend cannot join several processes in this "
                         "harness (Keras 3's train step fails under TensorFlow's MultiWorkerMirroredStrategy); "
                         "use --backend jax")


# Keras' own variables for a multi-process run (keras.distribution.initialize reads them).
PROCESSES_VARIABLE = "KERAS_DISTRIBUTION_NUM_PROCESSES"


def requested_processes() -> int:
    """How many processes the launch asked for through Keras' variable (1 when unset).

    Raises:
        ValueError: one line naming the bad value, when it is not a positive integer.
    """
    text = os.environ.get(PROCESSES_VARIABLE, "1").strip() or "1"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{PROCESSES_VARIABLE}: {text!r} is not a positive integer")
    return int(text)


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
    def keras_name(self) -> str:
        """The name `keras.device()` takes ("cpu:0" would break Keras' torch backend,
        whose variables then leave the device scope as plain tensors)."""
        return self.name


class Backend(abc.ABC):
    """The operations whose code differs per backend."""

    name = ""
    package = ""  # the distribution whose version is recorded

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

    def is_out_of_memory(self, error: BaseException) -> bool:
        return isinstance(error, MemoryError) or any(m in str(error) for m in _OOM_MARKERS)


class TensorFlowBackend(Backend):
    name = package = "tensorflow"

    def version(self) -> str:
        import tensorflow as tf

        return tf.__version__  # tensorflow, tensorflow-cpu and tf-nightly share the module

    def gpus(self):
        import tensorflow as tf

        devices = []
        for index, gpu in enumerate(tf.config.list_physical_devices("GPU")):
            details = tf.config.experimental.get_device_details(gpu)
            devices.append(Device(f"gpu:{index}", details.get("device_name", gpu.name)))
        return devices

    def to_device(self, array, device):
        import tensorflow as tf

        with tf.device(device.keras_name):
            return tf.identity(tf.convert_to_tensor(array))

    def tf32_enabled(self):
        # tf.config.experimental's wrappers of these are absent from some builds (tensorflow-cpu 2.21).
        from tensorflow.python.framework import config

        return config.tensor_float_32_execution_enabled()

    def set_tf32(self, enabled):
        from tensorflow.python.framework import config

        config.enable_tensor_float_32_execution(enabled)

    def split_cpu(self, count):
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)

    def data_parallel(self, count, *, on_gpu):
        return _MirroredTraining([f"/{'gpu' if on_gpu else 'cpu'}:{i}" for i in range(count)])

    def device_of(self, tensor):
        kind, index = tensor.device.rsplit("/device:", 1)[-1].split(":")
        return "cpu" if kind == "CPU" else f"gpu:{index}"

    def synchronize(self, device):
        if device.is_gpu:
            from tensorflow.python.eager import context

            context.async_wait()

    def reset_peak_memory(self, device):
        if device.is_gpu:
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats(device.name.upper())

    def peak_memory_mb(self, device):
        if not device.is_gpu:
            return None
        import tensorflow as tf

        return tf.config.experimental.get_memory_info(device.name.upper())["peak"] / 2**20


class _MirroredTraining:
    """tf.distribute.MirroredStrategy: the global batch split across the replicas each step."""

    def __init__(self, devices):
        import tensorflow as tf

        self._tf = tf
        self.strategy = tf.distribute.MirroredStrategy(devices)

    def scope(self):
        return self.strategy.scope()

    def train_step(self, model, x, y):
        # The strategy's own input path: a distributed dataset hands each replica its
        # slice of the global batch, prefetched onto that replica's device.
        dataset = self._tf.data.Dataset.from_tensors((x, y)).repeat()
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        # One plain step first: it creates the optimizer's and metrics' mirrored state,
        # which the distributed step cannot create while it is being traced.
        model.train_on_batch(x, y)
        model.make_train_function(force=True)
        return lambda: float(model.train_function(iterator)["loss"])  # the fetch waits for every replica


class _KerasDataParallelTraining:
    """keras.distribution.DataParallel (JAX): variables replicated, the batch sharded."""

    def __init__(self, devices):
        import keras

        self._keras = keras
        self.devices = devices
        self.distribution = keras.distribution.DataParallel(devices=devices)

    def scope(self):
        return self.distribution.scope()

    def train_step(self, model, x, y):
        import jax

        if jax.process_count() == 1:
            x, y = (self._keras.distribution.distribute_tensor(a, self.distribution.get_data_layout(a.shape))
                    for a in (x, y))
        else:  # each process feeds its slice of the global batch; Keras assembles the global array each step
            count, index = jax.process_count(), jax.process_index()
            local = next(d for d in self.devices if d.process_index == index)
            x, y = (jax.device_put(a[index * len(a) // count:(index + 1) * len(a) // count], local) for a in (x, y))
        return lambda: model.train_on_batch(x, y)  # returns host values: every shard is done


class JaxBackend(Backend):
    name = package = "jax"

    def gpus(self):
        import jax

        try:
            found = jax.local_devices(backend="gpu")  # this process's, in a multi-process run
        except RuntimeError:  # no GPU platform in this jaxlib
            return []
        return [Device(f"gpu:{i}", d.device_kind, _bytes_to_mb((d.memory_stats() or {}).get("bytes_limit")))
                for i, d in enumerate(found)]

    def _jax_device(self, device):
        import jax

        kind = "gpu" if device.is_gpu else "cpu"
        return jax.local_devices(backend=kind)[int(device.name.split(":")[1]) if device.is_gpu else 0]

    def to_device(self, array, device):
        import jax

        return jax.block_until_ready(jax.device_put(array, self._jax_device(device)))

    def device_scope(self, device):
        import keras

        # A jax.Device, not a name: in a multi-process run, Keras' "cpu" is process 0's CPU.
        return keras.device(self._jax_device(device))

    def tf32_enabled(self):
        import jax

        # XLA's "default" precision lets float32 dots run in TF32 on GPUs that have it.
        return jax.config.jax_default_matmul_precision in (None, "default", "tensorfloat32", "bfloat16")

    def set_tf32(self, enabled):
        import jax

        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if enabled else "highest")

    def split_cpu(self, count):
        # Read by XLA when JAX starts; only the CPU platform is split.
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()

    def join_processes(self):
        import keras

        keras.distribution.initialize()  # jax.distributed.initialize, from Keras' variables

    def process_index(self):
        import jax

        return jax.process_index()

    def agree(self, value):
        import jax

        if jax.process_count() == 1:
            return value
        from jax.experimental import multihost_utils

        return type(value)(multihost_utils.broadcast_one_to_all(np.float32(value)))

    def data_parallel(self, count, *, on_gpu):
        import jax

        # The same number of replicas on every process, its own devices first.
        processes = jax.process_count()
        devices = jax.devices("gpu" if on_gpu else "cpu")
        return _KerasDataParallelTraining([device for index in range(processes)
                                           for device in [d for d in devices if d.process_index == index]
                                           [:count // processes]])

    def device_of(self, tensor):
        import jax

        (holder,) = tensor.devices()
        return "cpu" if holder.platform == "cpu" else f"gpu:{jax.devices('gpu').index(holder)}"

    def synchronize(self, device):
        import jax

        # Outputs are fetched to the host by the timed call; this also drains
        # anything still queued (jax has no device-wide barrier).
        jax.effects_barrier()

    def peak_memory_mb(self, device):
        # XLA's allocator keeps a process-lifetime peak that cannot be reset:
        # the figure is the peak up to the end of this case.
        stats = self._jax_device(device).memory_stats() if device.is_gpu else None
        return _bytes_to_mb((stats or {}).get("peak_bytes_in_use"))


class TorchBackend(Backend):
    name = package = "torch"

    def gpus(self):
        import torch

        return [Device(f"gpu:{i}", torch.cuda.get_device_name(i),
                       torch.cuda.get_device_properties(i).total_memory / 2**20)
                for i in range(torch.cuda.device_count())]

    def _torch_device(self, device):
        return device.name.replace("gpu", "cuda")

    def to_device(self, array, device):
        import torch

        return torch.as_tensor(array).to(self._torch_device(device))

    def tf32_enabled(self):
        import torch

        return bool(torch.backends.cuda.matmul.allow_tf32)

    def set_tf32(self, enabled):
        import torch

        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled

    def device_of(self, tensor):
        return "cpu" if tensor.device.type == "cpu" else f"gpu:{tensor.device.index or 0}"

    def synchronize(self, device):
        if device.is_gpu:
            import torch

            torch.cuda.synchronize(self._torch_device(device))

    def reset_peak_memory(self, device):
        if device.is_gpu:
            import torch

            torch.cuda.reset_peak_memory_stats(self._torch_device(device))

    def peak_memory_mb(self, device):
        if not device.is_gpu:
            return None
        import torch

        return torch.cuda.max_memory_allocated(self._torch_device(device)) / 2**20


BACKENDS: dict[str, Backend] = {b.name: b for b in (TensorFlowBackend(), JaxBackend(), TorchBackend())}


def select(name: str) -> None:
    """Chooses the Keras backend for this process; must run before Keras is imported."""
    os.environ["KERAS_BACKEND"] = name
    # TensorFlow's C++ start-up chatter buries the results; users can set it back.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def requested() -> str:
    """The backend KERAS_BACKEND asks for (Keras' default: tensorflow)."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def active() -> Backend:
    """The backend Keras runs on in this process (imports Keras)."""
    import keras

    return BACKENDS[keras.backend.backend()]


def is_installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _bytes_to_mb(value):
    return None if value is None else value / 2**20
