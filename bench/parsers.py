"""The option values' parsers: each turns a text into a value or raises OptionError with one line
naming the bad value and what is accepted (used as `type=` by the CLI, and by HarnessConfig)."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import models


class OptionError(ValueError):
    """A user's option value that cannot be used."""


def _comma_list(text: str, option: str) -> list[str]:
    items = [item.strip() for item in str(text).split(",")]
    if not all(items):
        raise OptionError(f"{option}: empty item in {text!r}; give a comma-separated list")
    return list(dict.fromkeys(items))  # drop repeats, keep order


def choice_list(option: str, accepted):
    """The parser of a comma list for `option` whose items are all in `accepted`."""
    def parse(text):
        values = _comma_list(text, option)
        for value in values:
            if value not in accepted:
                raise OptionError(f"{option}: unknown value {value!r}; accepted: {', '.join(accepted)}")
        return tuple(values)
    return parse


def parse_models(text: str) -> tuple[str, ...]:
    """Model names and set names (tutorial, vision, transformer, all), in the order given."""
    names = []
    for item in _comma_list(text, "--models"):
        if item in models.SETS:
            names += models.SETS[item]
        elif item in models.REGISTRY:
            names.append(item)
        else:
            raise OptionError(f"--models: unknown model {item!r}; accepted: a set ({', '.join(models.SETS)}) "
                              f"or a model ({', '.join(models.names())})")
    return tuple(dict.fromkeys(names))


def parse_model_files(text: str) -> tuple[str, ...]:
    """Paths of saved models (checked, with --input-range, when the config is made)."""
    return tuple(_comma_list(text, "--model-file"))


def parse_input_range(text: str) -> tuple[int, int]:
    items = [item.strip() for item in str(text).split(",")]
    try:
        low, high = (int(item) for item in items)
    except ValueError:
        raise OptionError(f"--input-range: {text!r} is not LOW,HIGH; give two integers, e.g. 0,30000") from None
    if low >= high:
        raise OptionError(f"--input-range: {text!r}: LOW must be below HIGH (ids are drawn from [LOW, HIGH))")
    return low, high


def _positive_integers(text: str, option: str, example: str) -> tuple[int, ...]:
    numbers = []
    for item in _comma_list(text, option):
        if not (item.isascii() and item.isdigit()) or int(item) < 1:
            raise OptionError(f"{option}: {item!r} is not a positive integer; give e.g. {example}")
        numbers.append(int(item))
    return tuple(numbers)


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    return _positive_integers(text, "--batch-sizes", "1,32,128")


_DEVICE = re.compile(r"cpu|gpu|gpu:\d+")


def parse_devices(text: str) -> tuple[str, ...]:
    devices = _comma_list(text, "--devices")
    for device in devices:
        if not _DEVICE.fullmatch(device):
            raise OptionError(f"--devices: unknown device {device!r}; accepted: cpu, gpu (every GPU), gpu:N")
    return tuple(devices)


def parse_one_device(text: str) -> str:
    """One device by name: cpu or gpu:N."""
    if text != "cpu" and not re.fullmatch(r"gpu:\d+", text):
        raise OptionError(f"--device: {text!r} is not one device; accepted: cpu, gpu:N")
    return text


def parse_one(option: str, accepted):
    def parse(text):
        if text not in accepted:
            raise OptionError(f"{option}: unknown value {text!r}; accepted: {', '.join(accepted)}")
        return text
    return parse


def positive_integer(option: str, example: str):
    """The parser of one positive integer for `option` (`example` is shown when the value is refused)."""
    def parse(text: str) -> int:
        values = _positive_integers(text, option, example)
        if len(values) != 1:
            raise OptionError(f"{option}: {text!r} is not one positive integer; give e.g. {example}")
        return values[0]
    return parse


parse_passes = positive_integer("--passes", "5")


def positive_number(option: str, example: str):
    """The parser of one positive number for `option` (`example` is shown when the value is refused)."""
    return lambda text: _positive_number(text, option, example)


def _positive_number(text: str, option: str, example: str, *, zero: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        accepted = "a number >= 0" if zero else "a positive number"
        raise OptionError(f"{option}: {text!r} is not {accepted}; give e.g. {example}")
    return value


MAX_QPS = 1_000_000  # a level's schedule is drawn up front: beyond this, more than one thread could issue


def parse_qps(text: str) -> tuple[float, ...]:
    rates = []
    for item in _comma_list(text, "--qps"):
        rates.append(_positive_number(item, "--qps", "20,100,400"))
        if rates[-1] > MAX_QPS:
            raise OptionError(f"--qps: {item!r} is more than {MAX_QPS:,} queries a second; give e.g. 20,100,400")
    return tuple(sorted(set(rates)))


def parse_latency_bound(text: str) -> float:
    return _positive_number(text, "--latency-bound", "20")


def parse_max_delay(text: str) -> float:
    return _positive_number(text, "--max-delay-ms", "2", zero=True)


def parse_duration(text: str) -> float:
    return _positive_number(text, "--duration", "5")


def parse_replicas(text: str) -> tuple[int, ...]:
    return tuple(sorted(set(_positive_integers(text, "--replicas", "1,2,4"))))


def parse_threads(text: str) -> tuple[int, int] | None:
    """'auto' -> None (the backend's own pools); 'N' -> (N, N); 'INTRA,INTER' -> (INTRA, INTER)."""
    if text == "auto":
        return None
    try:
        sizes = _positive_integers(text, "--threads", "1 or 2,1")
    except OptionError:
        raise OptionError(f"--threads: {text!r} is not auto, N or INTRA,INTER; give e.g. 1 or 2,1") from None
    if len(sizes) > 2:
        raise OptionError(f"--threads: {text!r} is not auto, N or INTRA,INTER; give e.g. 1 or 2,1")
    return (sizes[0], sizes[-1])


def parse_results_dir(text: str) -> Path | str:
    """A directory (a Path; file:// URLs too), or a store's URL such as s3://bucket/prefix (the text,
    whose protocol's fsspec package must be installed; whether the store can be written is checked
    when cases are collected, see bench.store.check_writable)."""
    from bench.store.location import parse_location
    from bench.store.schema import RunFileError

    try:
        location = parse_location(text)
    except RunFileError as error:
        raise OptionError(f"--results-dir: {error}") from None
    if isinstance(location, Path) and location.exists() and not location.is_dir():
        raise OptionError(f"--results-dir: {text!r} exists and is not a directory")
    return location


MACHINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def parse_machine(text: str) -> str:
    """--machine: the name the runs carry instead of the one made from the hardware."""
    if not MACHINE_NAME.fullmatch(text):
        raise OptionError(f"--machine: {text!r} is not a machine name; accepted: 1 to 64 letters, digits, "
                          "'.', '_' or '-', starting with a letter or digit, e.g. ci-h200")
    return text


def parse_threshold(text: str) -> float:
    """'10%' or '10' -> 0.10; a negative or non-numeric value is refused."""
    number = str(text).strip().removesuffix("%")
    try:
        value = float(number)
    except ValueError:
        raise OptionError(f"--threshold: {text!r} is not a percentage; give e.g. 10%") from None
    if not math.isfinite(value) or value < 0:
        raise OptionError(f"--threshold: {text!r} is negative or not finite; give e.g. 10%")
    return value / 100


def parse_alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise OptionError(f"--alpha: {text!r} is not a probability between 0 and 1; give e.g. 0.01")
    return value


def parse_budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise OptionError(f"--budget: {text!r} is not a positive number of minutes; give e.g. 12")
    return value


def typed(parse):
    """An option parser of bench.parsers (raising OptionError) as an argparse `type=`."""
    def convert(text):
        try:
            return parse(text)
        except OptionError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = getattr(parse, "__name__", "value")
    return convert
