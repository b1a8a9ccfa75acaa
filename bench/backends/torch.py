"""The PyTorch backend (Keras runs it eagerly; no data-parallel engine here)."""

from __future__ import annotations

from bench import device_time
from bench.backends.base import Backend, Device


def busy_ms(events, device_type, index: int, calls: int) -> float | None:
    """Busy time per call of one device in a `torch.profiler` trace: the union of its events' intervals (their
    time ranges are in microseconds); None where it has no event."""
    intervals = [(event.time_range.start, event.time_range.end) for event in events
                 if event.device_type == device_type and event.device_index == index]
    return device_time.union_length(intervals) / 1e3 / calls if intervals else None


class TorchBackend(Backend):
    name = package = "torch"
    install_hint = ("pip install torch   (CPU-only host: pip install torch --index-url "
                    "https://download.pytorch.org/whl/cpu)")

    def gpu_command(self, cuda_major):
        # PyTorch's CUDA builds come from its own index, one per CUDA release: 13.0 needs driver 580.
        index = "cu130" if cuda_major >= 13 else "cu126"
        return f"python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/{index}"

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

    def set_threads(self, intra_op, inter_op):
        import torch

        torch.set_num_threads(intra_op)
        torch.set_num_interop_threads(inter_op)

    def threads(self):
        import torch

        return {"intra_op_threads": torch.get_num_threads(), "inter_op_threads": torch.get_num_interop_threads()}

    def device_of(self, tensor):
        return "cpu" if tensor.device.type == "cpu" else f"gpu:{tensor.device.index or 0}"

    def synchronize(self, device):
        if device.is_gpu:
            import torch

            torch.cuda.synchronize(self._torch_device(device))

    def forward_step(self, model, x):
        import torch

        # Keras runs torch eagerly; `--jit-compile on` (model.jit_compile) asks for torch.compile.
        module = torch.compile(model) if model.jit_compile else model

        def forward():
            with torch.no_grad():
                return module(x, training=False)

        return forward

    def device_time(self, call, calls, device):
        if not device.is_gpu:
            return None
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as trace:
            for _ in range(calls):
                call()
        busy = busy_ms(trace.events(), DeviceType.CUDA, device.index, calls)
        return device_time.DeviceTime(busy, "torch.profiler: CUDA kernels and copies, busy") if busy else None

    def reset_peak_memory(self, device):
        if device.is_gpu:
            import torch

            torch.cuda.reset_peak_memory_stats(self._torch_device(device))

    def peak_memory_mb(self, device):
        if not device.is_gpu:
            return None
        import torch

        return torch.cuda.max_memory_allocated(self._torch_device(device)) / 2**20
