"""The TensorFlow backend, and its data-parallel engine (tf.distribute.MirroredStrategy)."""

from __future__ import annotations

from pathlib import Path

from bench import device_time
from bench.backends.base import Backend, Device, distribution_installed


def read_trace(folder: Path) -> device_time.Planes:
    """The planes of the trace a `tf.profiler.experimental` session wrote under `folder`, read by TensorFlow's
    own XPlane protobuf classes (an event's time is its line's start plus its offset, in picoseconds)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    trace = device_time.profile_folder_trace(folder)
    if trace is None:
        return []
    space = xplane_pb2.XSpace.FromString(trace.read_bytes())
    return [(plane.name, [(line.name, [(line.timestamp_ns + event.offset_ps / 1e3, event.duration_ps / 1e3)
                                       for event in line.events]) for line in plane.lines])
            for plane in space.planes]


class TensorFlowBackend(Backend):
    name = package = "tensorflow"
    install_hint = "pip install tensorflow   (NVIDIA GPUs: pip install '.[gpu]')"

    def gpu_command(self, cuda_major):
        # tensorflow[and-cuda] brings the CUDA libraries as pip packages; the CPU-only build must go first
        # (both install the same `tensorflow` module).
        install = "python -m pip install '.[gpu]'"
        if distribution_installed("tensorflow-cpu"):
            return f"python -m pip uninstall -y tensorflow-cpu && {install}"
        return install

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

    def set_threads(self, intra_op, inter_op):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)

    def threads(self):
        import tensorflow as tf

        sizes = (tf.config.threading.get_intra_op_parallelism_threads(),
                 tf.config.threading.get_inter_op_parallelism_threads())
        return dict(zip(("intra_op_threads", "inter_op_threads"), (size or None for size in sizes)))  # 0: TF's own

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
        if device.is_gpu:  # GPU kernels run asynchronously; this waits for every queued op (TF >= 2.14)
            import tensorflow as tf

            tf.test.experimental.sync_devices()

    def forward_step(self, model, x):
        import tensorflow as tf

        # One traced graph of the model's call, XLA where the model was compiled with it (--jit-compile), and
        # no AutoGraph conversion of Keras' code, as Keras' own predict function does.
        forward = tf.function(lambda inputs: model(inputs, training=False), jit_compile=bool(model.jit_compile),
                              autograph=False)
        return lambda: forward(x)

    def device_time(self, call, calls, device):
        if not device.is_gpu:
            return None
        import tensorflow as tf

        return device_time.xla_trace_busy(tf.profiler.experimental.Profile, read_trace, call, calls, device,
                                          clock="tf.profiler: the GPU plane's streams, busy")

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
