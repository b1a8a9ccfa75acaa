"""The JAX backend, and its data-parallel engine (keras.distribution.DataParallel)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bench import device_time
from bench.backends.base import Backend, Device, bytes_to_mb


def read_trace(folder: Path) -> device_time.Planes:
    """The planes of the trace a `jax.profiler.trace` session wrote under `folder`, read by JAX's own reader."""
    from jax.profiler import ProfileData

    trace = device_time.profile_folder_trace(folder)
    if trace is None:
        return []
    data = ProfileData.from_file(str(trace))
    return [(plane.name, [(line.name, [(event.start_ns, event.duration_ns) for event in line.events])
                          for line in plane.lines]) for plane in data.planes]


class JaxBackend(Backend):
    name = package = "jax"
    install_hint = "pip install jax   (GPU: pip install 'jax[cuda13]', or 'jax[cuda12]' on drivers before 580)"

    def gpu_command(self, cuda_major):
        return f"python -m pip install -U 'jax[cuda{min(cuda_major, 13)}]'"

    def gpus(self):
        import jax

        try:
            found = jax.local_devices(backend="gpu")  # this process's, in a multi-process run
        except RuntimeError:  # no GPU platform in this jaxlib
            return []
        return [Device(f"gpu:{i}", d.device_kind, bytes_to_mb((d.memory_stats() or {}).get("bytes_limit")))
                for i, d in enumerate(found)]

    def _jax_device(self, device):
        import jax

        kind = "gpu" if device.is_gpu else "cpu"
        return jax.local_devices(backend=kind)[device.index]

    def to_device(self, array, device):
        import jax

        return jax.block_until_ready(jax.device_put(array, self._jax_device(device)))

    def device_scope(self, device):
        import keras

        # A jax.Device, not a name: in a multi-process run, Keras' "cpu" is process 0's CPU.
        return keras.device(self._jax_device(device))

    def device_time(self, call, calls, device):
        if not device.is_gpu:
            return None
        import jax

        return device_time.xla_trace_busy(jax.profiler.trace, read_trace, call, calls, device,
                                          clock="jax.profiler: the GPU plane's streams, busy")

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

    def forward_step(self, model, x):
        import jax
        import jax.numpy as jnp

        # The state passed as arguments, as a jitted serving function holds it: device arrays of its own
        # (Keras' compiled steps donate the variables' buffers, so theirs would be gone after the next
        # infer or train call). The step blocks on its outputs (synchronize is no barrier for them).
        trainable = [jnp.copy(variable.value) for variable in model.trainable_variables]
        non_trainable = [jnp.copy(variable.value) for variable in model.non_trainable_variables]

        @jax.jit
        def forward(trainable, non_trainable, inputs):
            return model.stateless_call(trainable, non_trainable, inputs, training=False)[0]

        return lambda: jax.block_until_ready(forward(trainable, non_trainable, x))

    def peak_memory_mb(self, device):
        # XLA's allocator keeps a process-lifetime peak that cannot be reset:
        # the figure is the peak up to the end of this case.
        stats = self._jax_device(device).memory_stats() if device.is_gpu else None
        return bytes_to_mb((stats or {}).get("peak_bytes_in_use"))



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
