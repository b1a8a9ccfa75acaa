"""A Keras model as the server scenario serves it: batches of k queries, each run as the smallest
bucket that holds it, its input on the device, warmed up before the first load level."""

from __future__ import annotations

from bench.timing import MODE_STEPS, Warmup, first_call_and_warmup


def bucket_sizes(max_batch: int) -> list[int]:
    """The batch shapes a server with batches of up to `max_batch` compiles: powers of two, and `max_batch`."""
    sizes, size = [], 1
    while size < max_batch:
        sizes.append(size)
        size *= 2
    return [*sizes, max_batch]


def inputs_bytes(spec, max_batch: int) -> int:
    """The host memory the endpoint's inputs take: one batch per bucket (about two largest batches)."""
    one = sum(array.nbytes for array in _leaves(spec.synthetic_batch(1)))
    return one * sum(bucket_sizes(max_batch))


def _leaves(structure):
    if isinstance(structure, dict):
        structure = list(structure.values())
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _leaves(item)]
    return [structure]


class Endpoint:
    """Serves k queries (1 <= k <= max_batch) as one batch of the smallest bucket that holds them.

    A batch is padded up to its bucket, as TF Serving's allowed_batch_sizes do: each bucket
    is one input shape, traced and compiled once in warm-up, instead of one shape per k.
    A query's input waits in host memory, as a real request's does, so that its copy to the
    device is in its latency (as MLPerf's server under test has it); with `inputs_on_device`
    the bucket's input is placed on the device before any level starts, as the batch
    scenario's inputs are. A query is done when its batch's result is on the host (the infer
    step returns numpy) and the device is synchronized.

    Args:
        model: the compiled Keras model, built on `device`.
        spec: its ModelSpec or ModelFile (for synthetic inputs of the real shapes).
        backend: the active bench.backends.Backend.
        device: the bench.backends.Device it runs on.
        max_batch: the largest batch the batcher forms.
        inputs_on_device: place each bucket's input on the device once, before the levels.
    """

    def __init__(self, model, spec, backend, device, max_batch: int, *, inputs_on_device: bool = False):
        import keras

        self.buckets = bucket_sizes(max_batch)
        self._steps = {}
        for size in self.buckets:
            x, y = spec.synthetic_batch(size)
            if inputs_on_device:
                x, y = keras.tree.map_structure(lambda array: backend.to_device(array, device), (x, y))
            step = MODE_STEPS["infer"](model, x, y, size)

            def call(step=step):
                step()
                backend.synchronize(device)

            self._steps[size] = call
        self.warmups: dict[int, Warmup] = {}

    def warm_up(self, profile, *, smoke_only: bool = False) -> None:
        """Compiles and warms every bucket, the largest first (a batch too large for the device fails at once)."""
        for size in reversed(self.buckets):
            self.warmups[size] = first_call_and_warmup(self._steps[size], profile=profile, smoke_only=smoke_only)

    def serve(self, queries: int) -> None:
        """Runs one batch holding `queries` queries; returns when its results are on the host."""
        self._steps[next(size for size in self.buckets if size >= queries)]()

    @property
    def first_call_ms(self) -> float:
        """The first calls of every bucket (tracing and compiling each shape), in milliseconds."""
        return sum(warmup.first_call_s for warmup in self.warmups.values()) * 1e3

    @property
    def warmup_rounds(self) -> int:
        return sum(len(warmup.warmup_s) for warmup in self.warmups.values())

    @property
    def unloaded_ms(self) -> float:
        """One query alone: the warm batch-1 step, in milliseconds (no load can serve a query faster)."""
        return self.warmups[1].step_s * 1e3

    @property
    def capacity_qps(self) -> float:
        """The most queries a second the warm buckets serve back to back (closed loop): a bound on any load."""
        return max(size / self.warmups[size].step_s for size in self.buckets)
