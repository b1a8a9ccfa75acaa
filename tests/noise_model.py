"""The 2-core VM's noise between processes, for simulations of the process-replicate decision that
`compare --runs` makes (bench.analysis.gate; tests/simulation, tests/unit).

Magnitudes: docs/measurements-gate.md, "Noise between processes" (2026-11-27: the gate's recipe, `--threads 1`,
the first A/A gate's 8 processes).
"""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd


MODELS = ("mnist_cnn", "mnist_separable_cnn", "imdb_lstm", "imdb_lstm_cudnn", "imdb_bilstm", "imdb_gru",
          "imdb_simplernn")
CASES = [(model, mode, batch) for model in MODELS for mode in ("infer", "train") for batch in (1, 32)]


@dataclass(frozen=True)
class Noise:
    """Log-scale noise of one process's case medians, in the magnitudes measured on the 2-core VM with
    the gate's recipe (docs/measurements-gate.md, "Noise between processes", 2026-11-27).

    Each case's spread from process to process is `case_sd` times a lognormal factor of spread
    `case_spread` (some cases are far noisier than others); its pass medians inside a process spread
    `pass_ratio` times as much, give or take a lognormal factor `pass_jitter` (what the prior's trend
    can read); every process shifts all of its cases together by `common_sd`; `two_state` cases take
    a slower state (`two_state_shift`) for a whole process with probability `two_state_p`."""

    case_sd: float = 0.10
    case_spread: float = 0.5
    pass_ratio: float = 1.6
    pass_jitter: float = 1.0
    passes: int = 5
    common_sd: float = 0.12
    two_state: int = 3
    two_state_p: float = 0.25
    two_state_shift: float = 0.37


MEASURED = Noise()


class SimulatedMachine:
    """The 2-core VM as `compare --runs` sees it: `pytest bench/` processes of the recipe's matrix (CASES),
    each case with its own noise drawn once (as Noise describes). `slower` maps a model to the factor its
    cases are slower by in head."""

    def __init__(self, rng, noise: Noise = MEASURED, slower: dict | None = None):
        self.rng, self.noise = rng, noise
        count = len(CASES)
        self.case_sd = noise.case_sd * rng.lognormal(0, noise.case_spread, count)
        self.pass_sd = noise.pass_ratio * self.case_sd * rng.lognormal(0, noise.pass_jitter, count)
        self.two_state = np.zeros(count, bool)
        self.two_state[rng.choice(count, noise.two_state, replace=False)] = True
        self.effect = np.array([np.log((slower or {}).get(model, 1.0)) for model, _, _ in CASES])

    def rows(self, side: str, number: int, chosen=None) -> pd.DataFrame:
        """One process's rows (as bench.store.load_process gives them) for the cases `chosen` (indices)."""
        noise, rng = self.noise, self.rng
        chosen = np.arange(len(CASES)) if chosen is None else np.asarray(chosen)
        passes = rng.normal(0, 1, (noise.passes, len(CASES))) * self.pass_sd
        state = self.two_state & (rng.uniform(size=len(CASES)) < noise.two_state_p)
        logs = (np.log(10.0) + rng.normal(0, noise.common_sd) + rng.normal(0, 1, len(CASES)) * self.case_sd
                + state * noise.two_state_shift + (self.effect if side == "head" else 0))
        return pd.DataFrame({
            "backend": "tensorflow", "device": "cpu", "model": [CASES[i][0] for i in chosen],
            "model_sha256": "", "scenario": "batch", "load": "", "mode": [CASES[i][1] for i in chosen], "batch_size": [CASES[i][2] for i in chosen],
            "replicas": 1,
            "precision": "float32", "jit_compile": "auto", "run_id": f"{side}{number}", "status": "ok",
            "message": "", "median_ms": np.exp(logs[chosen]), "pass_log_var": passes.var(axis=0, ddof=1)[chosen]})

def simulate(rng, noise: Noise, *, processes: int, slower: dict | None = None) -> pd.DataFrame:
    """`processes` whole-matrix processes a side on one SimulatedMachine, as rows for gate.judge."""
    machine = SimulatedMachine(rng, noise, slower)
    return pd.concat([machine.rows(side, number).assign(side=side, process=f"{side}{number}")
                      for side in ("base", "head") for number in range(processes)], ignore_index=True)


def on_every_core(work, seed: int, count: int, **kwargs) -> list:
    """`work(rng, **kwargs)` `count` times, each on its own stream of `seed` (SeedSequence.spawn), in a pool of
    one fresh process per core: the results do not depend on how the items are spread over the processes."""
    streams = np.random.SeedSequence(seed).spawn(count)
    context = multiprocessing.get_context("spawn")  # the test process holds TensorFlow's threads: no fork
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context) as pool:
        return list(pool.map(partial(_on_stream, work, **kwargs), streams, chunksize=max(1, count // 16)))


def _on_stream(work, stream, **kwargs):
    return work(np.random.default_rng(stream), **kwargs)
