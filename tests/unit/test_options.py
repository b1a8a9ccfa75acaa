"""Every option's validation: one line naming the bad value and what is accepted."""

import pytest

import models
from bench.options import HarnessConfig
from bench.parsers import OptionError
from bench.profiles import PROFILES

BAD_VALUES = [
    ({"models": "mnist_cnn,resnet"}, "--models: unknown model 'resnet'; accepted: a set (tutorial, vision, "
                                     "transformer, all) or a model (mnist_cnn, mnist_separable_cnn"),
    ({"input_range": "5,5"}, "--input-range: '5,5': LOW must be below HIGH"),
    ({"input_range": "a,9"}, "--input-range: 'a,9' is not LOW,HIGH; give two integers"),
    ({"model_file": "x.h5"}, "--model-file: x.h5: not a .keras file"),
    ({"model_file": "missing.keras"}, "--model-file: missing.keras: cannot be read"),
    ({"models": "mnist_cnn,,imdb_lstm"}, "--models: empty item"),
    ({"modes": "infer,serve"}, "--modes: unknown value 'serve'; accepted: forward, infer, predict, train"),
    ({"batch_sizes": "1,0"}, "--batch-sizes: '0' is not a positive integer"),
    ({"batch_sizes": "32,x"}, "--batch-sizes: 'x' is not a positive integer"),
    ({"batch_sizes": "-4"}, "--batch-sizes: '-4' is not a positive integer"),
    ({"batch_sizes": "\u00b2"}, "--batch-sizes: '\u00b2' is not a positive integer"),  # a digit to str.isdigit
    ({"devices": "tpu"}, "--devices: unknown device 'tpu'; accepted: cpu, gpu (every GPU), gpu:N"),
    ({"devices": "gpu:x"}, "--devices: unknown device 'gpu:x'"),
    ({"profile": "fast"}, "--profile: unknown value 'fast'; accepted: quick, gate, full"),
    ({"threads": "0"}, "--threads: '0' is not auto, N or INTRA,INTER; give e.g. 1 or 2,1"),
    ({"threads": "1,2,3"}, "--threads: '1,2,3' is not auto, N or INTRA,INTER"),
    ({"threads": "many"}, "--threads: 'many' is not auto, N or INTRA,INTER"),
    ({"jit_compile": "yes"}, "--jit-compile: unknown value 'yes'; accepted: auto, on, off"),
    ({"precision": "float16"}, "--precision: unknown value 'float16'; accepted: float32, mixed_float16, mixed_bfloat16"),
    ({"tf32": "yes"}, "--tf32: unknown value 'yes'; accepted: default, on, off"),
    ({"passes": "0"}, "--passes: '0' is not a positive integer; give e.g. 5"),
    ({"passes": "3,4"}, "--passes: '3,4' is not one positive integer; give e.g. 5"),
    ({"backend": "mxnet"}, "--backend: unknown value 'mxnet'; accepted: tensorflow, jax, torch"),
    ({"scenario": "offline"}, "--scenario: unknown value 'offline'; accepted: batch, server"),
    ({"scenario": "server"}, "--scenario server: give the load, --qps LIST (e.g. 20,100,400) and/or --latency-bound"),
    ({"scenario": "server", "qps": "0"}, "--qps: '0' is not a positive number; give e.g. 20,100,400"),
    ({"scenario": "server", "qps": "20,-5"}, "--qps: '-5' is not a positive number"),
    ({"scenario": "server", "qps": "many"}, "--qps: 'many' is not a positive number"),
    ({"scenario": "server", "qps": "1e7"}, "--qps: '1e7' is more than 1,000,000 queries a second"),
    ({"scenario": "server", "qps": "5"}, "--qps: a level at 5 queries a second would take 60 s to gather the 299 "
                                         "queries its p99 needs, over its cap of 4 x --duration (20 s); give at least "
                                         "15 or a longer --duration"),
    ({"inputs_on_device": True}, "--inputs-on-device: applies to the server scenario only"),
    ({"scenario": "server", "latency_bound": "0"}, "--latency-bound: '0' is not a positive number; give e.g. 20"),
    ({"scenario": "server", "qps": "20", "max_batch": "0"}, "--max-batch: '0' is not a positive integer; give e.g. 8"),
    ({"scenario": "server", "qps": "20", "max_delay_ms": "-1"}, "--max-delay-ms: '-1' is not a number >= 0"),
    ({"scenario": "server", "qps": "20", "duration": "nan"}, "--duration: 'nan' is not a positive number"),
    ({"scenario": "server", "qps": "20", "load_generator": "fork"},
     "--load-generator: unknown value 'fork'; accepted: thread, process"),
    ({"latency_bound": "20"}, "--latency-bound: applies to the server scenario only; add --scenario server"),
    ({"qps": "20"}, "--qps: applies to the server scenario only; add --scenario server"),
    ({"max_batch": "4"}, "--max-batch: applies to the server scenario only"),
    ({"scenario": "server", "qps": "20", "modes": "train"},
     "--modes: the server scenario serves inference queries (infer) only. Received: --modes train"),
    ({"scenario": "server", "qps": "20", "batch_sizes": "1"},
     "--batch-sizes: does not apply to the server scenario: it forms its own batches, up to --max-batch"),
    ({"scenario": "server", "qps": "20", "replicas": "2"}, "--replicas: does not apply to the server scenario"),
]


@pytest.mark.parametrize("values,message", BAD_VALUES, ids=[f"{next(iter(v))}={next(iter(v.values()))}"
                                                            for v, _ in BAD_VALUES])
def test_bad_value_is_named_with_what_is_accepted(values, message):
    with pytest.raises(OptionError) as error:
        HarnessConfig.from_values(values)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_models_take_sets_and_names_in_order_without_repeats():
    config = HarnessConfig.from_values({"models": "mnist_cnn,vision,transformer,mnist_cnn"})
    assert config.models == ("mnist_cnn", "resnet50", "mobilenet_v2", "imdb_transformer")
    assert HarnessConfig.from_values({}).models == models.SETS["tutorial"]
    assert set(HarnessConfig.from_values({"models": "all"}).models) == set(models.REGISTRY)


def test_server_scenario_settings_and_the_profiles_durations():
    config = HarnessConfig.from_values({"scenario": "server", "qps": "400,20,100", "latency_bound": "20",
                                        "max_delay_ms": "2"})
    serving = config.serving
    assert config.scenario == "server" and config.modes == ("infer",)
    assert serving.qps == (20.0, 100.0, 400.0) and serving.latency_bound_ms == 20.0
    assert (serving.max_batch, serving.max_delay_ms, serving.load_generator) == (8, 2.0, "thread")
    assert (serving.duration_s, serving.min_queries) == (5.0, 299)
    full = HarnessConfig.from_values({"scenario": "server", "qps": "20", "profile": "full"}).serving
    assert (full.duration_s, full.min_queries) == (60.0, 2995)
    assert HarnessConfig.from_values({"scenario": "server", "qps": "60", "duration": "1.5"}).serving.duration_s == 1.5
    assert not config.serving.inputs_on_device  # a query's input waits in host memory, as a request's does
    assert HarnessConfig.from_values({"scenario": "server", "qps": "20", "inputs_on_device": True}).serving.inputs_on_device
    assert HarnessConfig.from_values({}).serving is None and HarnessConfig.from_values({}).scenario == "batch"


def test_input_range_needs_a_model_file():
    with pytest.raises(OptionError, match="--input-range: applies to --model-file models only"):
        HarnessConfig.from_values({"input_range": "0,10"})


def test_results_dir_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(OptionError, match="--results-dir: .* exists and is not a directory"):
        HarnessConfig.from_values({"results_dir": str(tmp_path / "f")})


def test_unknown_keras_backend_variable(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "theano")
    with pytest.raises(OptionError, match="KERAS_BACKEND: unknown backend 'theano'"):
        HarnessConfig.from_values({})


def test_defaults(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    config = HarnessConfig.from_values({})
    assert config.batch_sizes == (1, 32, 128)
    assert config.modes == ("forward", "infer", "predict", "train")
    assert config.devices == ("cpu", "gpu")
    assert config.backend == "tensorflow" and config.jit_compile == "auto"
    assert len(config.models) == 7 and config.profile is PROFILES["quick"]
    assert config.passes == 5


def test_full_profile_adds_larger_batches_and_passes_unless_given():
    assert HarnessConfig.from_values({"profile": "full"}).batch_sizes == (1, 32, 128, 512)
    assert HarnessConfig.from_values({"profile": "full"}).passes == 10
    assert HarnessConfig.from_values({"profile": "full", "passes": "2"}).passes == 2
    assert HarnessConfig.from_values({"profile": "full", "batch_sizes": "8"}).batch_sizes == (8,)


@pytest.mark.parametrize("step_s,rounds", [(0.0001, 500), (0.01, 50), (1.0, 5), (0.0, 500)])
def test_rounds_adapt_to_the_step_time(step_s, rounds):
    assert PROFILES["quick"].rounds_for(step_s) == rounds


@pytest.mark.parametrize("text,message", [
    ("0", "--replicas: '0' is not a positive integer; give e.g. 1,2,4"),
    ("two", "--replicas: 'two' is not a positive integer"),
    ("1,-2", "--replicas: '-2' is not a positive integer"),
])
def test_bad_replica_counts(text, message):
    with pytest.raises(OptionError) as error:
        HarnessConfig.from_values({"replicas": text})
    assert message in str(error.value)


def test_replicas_need_the_train_mode():
    with pytest.raises(OptionError, match="--replicas measures data-parallel training: --modes must include train"):
        HarnessConfig.from_values({"replicas": "1,2", "modes": "infer"})
    assert HarnessConfig.from_values({"replicas": "2,1,2"}).replicas == (1, 2)


@pytest.mark.parametrize("step_s,passes,per_pass", [(0.0001, 5, 100), (0.01, 5, 10), (0.01, 3, 17), (1.0, 5, 1),
                                                    (1.0, 1, 5)])
def test_rounds_are_shared_out_over_the_passes(step_s, passes, per_pass):
    assert PROFILES["quick"].rounds_per_pass(step_s, passes) == per_pass


@pytest.mark.parametrize("text,sizes", [("auto", None), ("1", (1, 1)), ("2,1", (2, 1))])
def test_threads_are_intra_and_inter_op_sizes(text, sizes):
    assert HarnessConfig.from_values({"threads": text}).threads == sizes
