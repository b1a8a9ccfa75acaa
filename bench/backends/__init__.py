"""Everything that differs between Keras backends, in one place: one module per backend.

Each backend class (base.Backend) answers the same questions: which GPUs are
there, how to put an array on a device, how to wait for a device, how much
device memory a case peaked at, whether an exception is an out-of-memory, and
which data-parallel engine it has. The rest of the harness asks `active()` and
never tests a backend's name.
"""

from __future__ import annotations

import importlib.util
import os

from bench.backends.base import (
    PROCESSES_VARIABLE,
    Backend,
    DataParallelUnsupported,
    Device,
    MultiProcessUnsupported,
    ThreadsUnsupported,
)
from bench.backends.jax import JaxBackend
from bench.backends.tensorflow import TensorFlowBackend
from bench.backends.torch import TorchBackend

__all__ = ["BACKENDS", "BACKEND_NAMES", "INSTALL_HINTS", "PROCESSES_VARIABLE", "Backend", "DataParallelUnsupported",
           "Device", "MultiProcessUnsupported", "active", "is_installed", "requested", "requested_processes",
           "select", "ThreadsUnsupported"]

BACKENDS: dict[str, Backend] = {b.name: b for b in (TensorFlowBackend(), JaxBackend(), TorchBackend())}
BACKEND_NAMES = tuple(BACKENDS)
# The command that installs each backend, for one missing from this machine.
INSTALL_HINTS = {name: backend.install_hint for name, backend in BACKENDS.items()}


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
    return importlib.util.find_spec(name) is not None


# The oldest driver each CUDA major release runs on (Linux), newest first.
CUDA_DRIVERS = ((13, 580), (12, 525))


def gpu_hint(backend: Backend, gpus) -> str:
    """One line for a machine whose NVIDIA `gpus` (bench.hardware) `backend` cannot use: what to type."""
    from bench.hardware import describe

    have = f"this machine has {describe(gpus)} that the {backend.name} backend cannot use"
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return f"{have}: CUDA_VISIBLE_DEVICES={hidden!r} hides them; unset it"
    driver = next((gpu.driver for gpu in gpus if gpu.driver), "")
    major = int(driver.split(".")[0]) if driver.split(".")[0].isdigit() else None
    cuda = next((cuda for cuda, oldest in CUDA_DRIVERS if major is None or major >= oldest), None)
    if cuda is None:
        return f"{have}: its driver ({driver}) is older than CUDA 12 needs (525); update the NVIDIA driver"
    return f"{have}; to use them: {backend.gpu_command(cuda)}"


def requested_processes() -> int:
    """How many processes the launch asked for through Keras' variable (1 when unset).

    Raises:
        ValueError: one line naming the bad value, when it is not a positive integer.
    """
    text = os.environ.get(PROCESSES_VARIABLE, "1").strip() or "1"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{PROCESSES_VARIABLE}: {text!r} is not a positive integer")
    return int(text)
