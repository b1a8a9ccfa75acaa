"""The harness's options: declared once, parsed once into a frozen HarnessConfig.

Each option names a parser (bench.parsers) that turns its text into a value or raises
OptionError with one line naming the bad value and what is accepted. The pytest
plugin declares the options from OPTIONS and parses them at start-up, before
any model is built; a bad value stops the run with that one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import models
from bench import backends
from bench.parsers import (OptionError, choice_list, parse_batch_sizes, parse_devices, parse_duration,
                           parse_input_range, parse_latency_bound, parse_max_delay, parse_model_files, parse_models,
                           parse_machine, parse_one, parse_passes, parse_qps, parse_replicas, parse_results_dir,
                           parse_threads, positive_integer)
from bench.profiles import PROFILES, Profile
from bench.serving.arrivals import GENERATORS
from bench.serving.levels import LEVEL_CAP, floor_qps
from models.files import ModelFile, ModelFileError

MODES = ("forward", "infer", "predict", "train")
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
TF32 = {"default": None, "on": True, "off": False}
SCENARIOS = ("batch", "server")


def _sets_help() -> str:
    sets = [f"{name} ({', '.join(members)})" for name, members in models.SETS.items() if name != "all"]
    return "; ".join([*sets, "all"])


@dataclass(frozen=True)
class Option:
    flag: str
    metavar: str | None
    default: str | bool
    parse: object
    help: str
    repeatable: bool = False  # may be given several times; the values join as one comma list

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS = (
    Option("--models", "NAMES", "tutorial", parse_models,
           f"comma list of models and sets: {_sets_help()} (default: tutorial, or none when --model-file is given)"),
    Option("--model-file", "PATH", None, parse_model_files,
           "a model saved with model.save('x.keras'), benchmarked like a registry model (repeatable, or a comma "
           "list); loaded in Keras safe mode: no code from the file runs", repeatable=True),
    Option("--input-range", "LOW,HIGH", None, parse_input_range,
           "for --model-file: integer inputs that do not feed an Embedding get ids drawn from [LOW, HIGH)"),
    Option("--modes", "MODES", ",".join(MODES), choice_list("--modes", MODES),
           "comma list of forward (the model's compiled forward function, called directly), infer "
           "(model.predict_on_batch), predict (model.predict), train (one training step) (default: all four)"),
    Option("--batch-sizes", "SIZES", None, parse_batch_sizes,
           "comma list of positive integers (default: the profile's: quick 1,32,128; full 1,32,128,512; "
           "gate 1,32)"),
    Option("--devices", "DEVICES", "cpu,gpu", parse_devices,
           "comma list of cpu, gpu (every GPU the backend sees) or gpu:N (default: cpu,gpu)"),
    Option("--profile", "NAME", "quick", parse_one("--profile", tuple(PROFILES)),
           "quick (few rounds, minutes on a laptop), full (more rounds and warm-up, batch 512 too; "
           "numbers to publish) or gate (quick without the p99 rounds, batch 1 and 32: short processes "
           "for `python -m bench ab`) (default: quick)"),
    Option("--passes", "N", None, parse_passes,
           "split each case's rounds over N passes through the whole matrix, so that a wandering "
           "machine speed averages out (default: the profile's: quick 5, full 10)"),
    Option("--jit-compile", "MODE", "auto", parse_one("--jit-compile", tuple(JIT_COMPILE)),
           "Keras' compile(jit_compile=...): auto, on (XLA) or off (default: auto)"),
    Option("--precision", "POLICY", "float32", parse_one("--precision", PRECISIONS),
           "Keras dtype policy: float32, mixed_float16 or mixed_bfloat16 (default: float32)"),
    Option("--tf32", "MODE", "default", parse_one("--tf32", tuple(TF32)),
           "TensorFloat-32 matmuls on GPUs: on, off, or default (the backend's own; they differ: "
           "set it to compare backends fairly). Recorded per row (default: default)"),
    Option("--threads", "N", "auto", parse_threads,
           "CPU thread pools: auto (the backend's own), N (N threads inside an op, N ops at once) or "
           "INTRA,INTER; recorded per row. On a small machine the pools fight over the cores: 1 makes "
           "some cases far steadier (docs/measurements.md) (default: auto)"),
    Option("--backend", "NAME", None, parse_one("--backend", backends.BACKEND_NAMES),
           "Keras backend: tensorflow, jax or torch (default: $KERAS_BACKEND, else tensorflow)"),
    Option("--results-dir", "DIR", "results", parse_results_dir,
           "where each run writes <run_id>.csv and <run_id>.samples.csv: a directory, or a store's URL "
           "(s3://bucket/prefix with .[s3], gs://bucket/prefix with .[gs]), never overwriting a run "
           "(default: results)"),
    Option("--machine", "NAME", None, parse_machine,
           "the machine's name in its runs, which the history groups by (default: made from the hardware: "
           "CPU model, usable cores, RAM, NVIDIA GPUs, e.g. amd-epyc-9654-16c-128g-1xh200)"),
    Option("--require-gpu", None, False, bool,
           "fail at start-up when the backend sees no GPU, instead of skipping GPU cases"),
    Option("--replicas", "COUNTS", None, parse_replicas,
           "data-parallel training over 1, 2, ... devices (GPUs, else the CPU split into logical devices); "
           "--batch-sizes are then per replica (default: off)"),
    Option("--scenario", "NAME", "batch", parse_one("--scenario", SCENARIOS),
           "batch (closed loop: one batch, wait, the next) or server (open loop: Poisson arrivals of single "
           "queries, served by a dynamic batcher; see --qps, --latency-bound) (default: batch)"),
    Option("--qps", "LIST", None, parse_qps,
           "server scenario: comma list of offered loads, queries a second, one load level each"),
    Option("--latency-bound", "MS", None, parse_latency_bound,
           "server scenario: search for the highest load whose p99 latency stays within MS milliseconds"),
    Option("--max-batch", "N", "8", positive_integer("--max-batch", "8"),
           "server scenario: the batcher gathers up to N queued queries into one batch; 1 turns batching off "
           "(default: 8)"),
    Option("--max-delay-ms", "MS", "0", parse_max_delay,
           "server scenario: a batch closes when its oldest query has waited MS in the queue; 0 takes what is "
           "queued when the model is free (default: 0)"),
    Option("--duration", "S", None, parse_duration,
           "server scenario: seconds per load level, at least (default: the profile's: quick and gate 5, full 60; "
           "a level also runs until it has the queries its p99 needs: 299, full 2,995 for the p99.9)"),
    Option("--load-generator", "KIND", "thread", parse_one("--load-generator", tuple(GENERATORS)),
           "server scenario: issue the arrivals from a thread of this process or from a process of their own "
           "(docs/measurements.md compares their lateness) (default: thread)"),
    Option("--inputs-on-device", None, False, bool,
           "server scenario: place each batch's input on the device before the levels, instead of copying each "
           "query's input from host memory in its latency (the default, as a real request arrives)"),
    Option("--report", None, False, bool,
           "after the run, write its report (plots, report.html) into <results-dir>/<run_id>-report/"),
)


@dataclass(frozen=True)
class HarnessConfig:
    """The parsed options of one benchmark session."""

    models: tuple[str, ...]  # registry models, then the model files' names
    model_files: tuple[ModelFile, ...]
    modes: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    devices: tuple[str, ...]
    profile: Profile
    passes: int
    jit_compile: str
    precision: str
    tf32: str
    threads: tuple[int, int] | None
    backend: str
    results_dir: Path | str  # a directory, or a store's URL (bench.store.location)
    require_gpu: bool
    replicas: tuple[int, ...] | None
    report: bool
    serving: "Serving | None" = None  # the server scenario's settings; None: the batch scenario
    machine: str | None = None  # --machine; None: the fingerprint names the machine after its hardware

    @property
    def scenario(self) -> str:
        return "server" if self.serving else "batch"

    @classmethod
    def from_values(cls, values: dict) -> "HarnessConfig":
        """Parses {dest: text} (missing ones take their defaults); raises OptionError."""
        parsed = {}
        for option in OPTIONS:
            text = values.get(option.dest)
            text = option.default if text is None else text
            parsed[option.dest] = None if text is None else option.parse(text)
        profile = PROFILES[parsed["profile"]]
        files = _model_files(parsed["model_file"] or (), parsed["input_range"])
        registry = parsed["models"] if values.get("models") is not None or not files else ()
        _check_names(registry, files)
        serving = _serving(parsed, values, profile)
        if serving:
            parsed["modes"] = ("infer",)
        if parsed["replicas"] and "train" not in parsed["modes"]:
            raise OptionError("--replicas measures data-parallel training: --modes must include train")
        backend = parsed["backend"] or backends.requested()
        if backend not in backends.BACKEND_NAMES:
            raise OptionError(f"KERAS_BACKEND: unknown backend {backend!r}; accepted: "
                              f"{', '.join(backends.BACKEND_NAMES)}")
        if not backends.is_installed(backend):
            raise OptionError(f"--backend: {backend} is not installed; install it with: "
                              f"{backends.INSTALL_HINTS[backend]}")
        return cls(models=(*registry, *(file.name for file in files)), model_files=files, modes=parsed["modes"],
                   batch_sizes=parsed["batch_sizes"] or profile.batch_sizes,
                   devices=parsed["devices"], profile=profile, passes=parsed["passes"] or profile.passes,
                   jit_compile=parsed["jit_compile"],
                   precision=parsed["precision"], tf32=parsed["tf32"], threads=parsed["threads"], backend=backend,
                   results_dir=parsed["results_dir"],
                   require_gpu=parsed["require_gpu"], replicas=parsed["replicas"], report=parsed["report"],
                   serving=serving, machine=parsed["machine"])

    def spec(self, name: str):
        """The model called `name`: a model file's, else the registry's."""
        for file in self.model_files:
            if file.name == name:
                return file
        return models.get(name)


@dataclass(frozen=True)
class Serving:
    """The server scenario's settings (see bench/serving/)."""

    qps: tuple[float, ...]  # fixed load levels
    latency_bound_ms: float | None  # search for the highest load within it
    max_batch: int
    max_delay_ms: float
    duration_s: float
    min_queries: int
    load_generator: str
    inputs_on_device: bool = False


SERVER_OPTIONS = ("qps", "latency_bound", "max_batch", "max_delay_ms", "duration", "load_generator",
                  "inputs_on_device")


def _serving(parsed: dict, given: dict, profile: Profile) -> Serving | None:
    """The server scenario's settings, or None for the batch scenario; refuses options that do not fit."""
    if parsed["scenario"] != "server":
        stray = [name for name in SERVER_OPTIONS if given.get(name) is not None]
        if stray:
            flag = "--" + stray[0].replace("_", "-")
            raise OptionError(f"{flag}: applies to the server scenario only; add --scenario server")
        return None
    if given.get("modes") is not None and parsed["modes"] != ("infer",):
        raise OptionError(f"--modes: the server scenario serves inference queries (infer) only. "
                          f"Received: --modes {','.join(parsed['modes'])}")
    for name, why in (("batch_sizes", "it forms its own batches, up to --max-batch"),
                      ("replicas", "it serves from one device")):
        if given.get(name) is not None:
            raise OptionError(f"--{name.replace('_', '-')}: does not apply to the server scenario: {why}")
    if not parsed["qps"] and parsed["latency_bound"] is None:
        raise OptionError("--scenario server: give the load, --qps LIST (e.g. 20,100,400) and/or "
                          "--latency-bound MS (e.g. 20)")
    duration = parsed["duration"] or profile.serve_s
    floor = floor_qps(duration, profile.serve_queries)
    slow = [qps for qps in parsed["qps"] or () if qps < floor]
    if slow:
        raise OptionError(f"--qps: a level at {slow[0]:g} queries a second would take "
                          f"{profile.serve_queries / slow[0]:.0f} s to gather the {profile.serve_queries} queries "
                          f"its p99 needs, over its cap of {LEVEL_CAP} x --duration ({LEVEL_CAP * duration:g} s); "
                          f"give at least {math.ceil(floor * 10) / 10:g} or a longer --duration")
    return Serving(qps=parsed["qps"] or (), latency_bound_ms=parsed["latency_bound"],
                   max_batch=parsed["max_batch"], max_delay_ms=parsed["max_delay_ms"],
                   duration_s=duration, min_queries=profile.serve_queries,
                   load_generator=parsed["load_generator"], inputs_on_device=bool(parsed["inputs_on_device"]))


def _model_files(paths: tuple[str, ...], input_range: tuple[int, int] | None) -> tuple[ModelFile, ...]:
    if input_range and not paths:
        raise OptionError("--input-range: applies to --model-file models only; give --model-file too")
    try:
        return tuple(ModelFile(Path(path), input_range=input_range) for path in paths)
    except ModelFileError as error:
        raise OptionError(str(error)) from None


def _check_names(registry: tuple[str, ...], files: tuple[ModelFile, ...]) -> None:
    """A model file's name (its stem) names its rows and cases: it must be unique in the run."""
    seen = {name: "the registry" for name in registry}
    for file in files:
        if file.name in seen:
            raise OptionError(f"--model-file: {file.path} is named {file.name!r}, as is a model from {seen[file.name]}"
                              "; rename the file (its stem names its rows)")
        seen[file.name] = str(file.path)
