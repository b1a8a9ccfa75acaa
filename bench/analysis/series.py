"""Runs as series over commits: one value per run for each machine and case, and each model's index.

A case's series holds the run's median (ms) of that case on one machine, keyed by
the machine and the whole case key (backend, device, precision, model, mode, batch,
...). Runs are ordered by the time of the commit they measured, then by when they
ran (runs without a commit time, older files, sort by their run time). Three levels:

- case: the run's median of the case, in ms;
- model: the geometric mean, over the cases the run has, of each case's value against
  that case's median over the whole series: 1.0 is the model's usual speed, 1.10 a run
  10% slower, whichever cases a run happened to include;
- relative: a model's index against the geometric mean of the other models' indexes in
  the same run (same machine, backend, device, precision; three models or more). A machine's speed wanders from
  run to run and moves every model of a run together (docs/measurements-history.md, "History:
  change points"), so this series is far quieter than the model's own; a change that
  slows every model alike cancels in it and shows in the model series.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bench.store import CASE_KEY

SERIES_KEY = ("machine", *CASE_KEY)
MODEL_KEY = ("machine", "backend", "device", "precision", "model", "model_sha256")
ENVIRONMENT = ("host", "cpu_model", "keras_version", "backend_version", "python_version")
RUN_COLUMNS = ("run_id", "git_commit", "commit_time", "timestamp_utc", *ENVIRONMENT)
POINT_COLUMNS = ("machine", "level", "model", "case", "series", "backend", "device", "precision", "run_id",
                 "git_commit", "commit_time", "timestamp_utc", "position", "value", "unit", "spread", "runs",
                 *ENVIRONMENT)


def case_label(row) -> str:
    """A case's name inside its model: "infer b32 cpu tensorflow float32" (and what else keys it)."""
    parts = [row["mode"], f"b{int(row['batch_size'])}", row["device"], row["backend"], row["precision"]]
    if int(row.get("replicas", 1) or 1) > 1:
        parts.append(f"x{int(row['replicas'])} replicas")
    if row.get("jit_compile") == "on":  # off is the usual (TensorFlow on a CPU; eager torch): not named
        parts.append("jit on")
    if row.get("scenario", "batch") not in ("", "batch"):
        parts.append(f"{row['scenario']} {row.get('load', '')}".strip())
    return " ".join(str(part) for part in parts)


def series_id(*parts) -> str:
    """A series' id, safe in a file name or an HTML id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(str(part) for part in parts)).strip("-")


def points(rows: pd.DataFrame, *, per: str = "commit") -> pd.DataFrame:
    """The series' points: one per commit (`per="commit"`: the geometric mean of the commit's runs, which
    are consecutive in a series), or one per run (`per="run"`).

    `rows`: run rows in the current schema (store.read_rows), any runs, any machines. Returns the columns
    POINT_COLUMNS (`runs`: how many runs a point pools; `spread`: a run's IQR over its median, or the
    spread of a commit's runs, their logs' standard deviation), ordered by series then position.
    """
    ok = rows[rows["status"] == "ok"].copy()
    if ok.empty:
        return pd.DataFrame(columns=list(POINT_COLUMNS))
    for column in RUN_COLUMNS:
        ok[column] = ok[column].fillna("").astype(str) if column in ok else ""
    ok["order"] = ok["commit_time"].where(ok["commit_time"] != "", ok["timestamp_utc"])
    ok["order"] = pd.to_datetime(ok["order"], utc=True, errors="coerce", format="ISO8601")
    ok["ran"] = pd.to_datetime(ok["timestamp_utc"], utc=True, errors="coerce", format="ISO8601")
    ok = ok.sort_values(["order", "ran", "run_id"], kind="stable")
    ok["case"] = [case_label(row) for _, row in ok.iterrows()]
    ok["series"] = [series_id(row["machine"], row["model"], row["model_sha256"][:12], row["case"])
                    for _, row in ok.iterrows()]
    ok["value"] = ok["median_ms"].astype(float)
    if "latency_bound_ms" in ok:  # a search's answer is its highest load within the bound: ms per query there
        search = pd.to_numeric(ok["latency_bound_ms"], errors="coerce").notna()
        ok.loc[search, "value"] = 1e3 / pd.to_numeric(ok.loc[search, "max_qps_at_bound"], errors="coerce")
    ok["spread"] = ok["iqr_ms"].astype(float) / ok["value"] if "iqr_ms" in ok else np.nan
    # A run that measured a case twice (a replica's process file beside its leader's): its median is the run's.
    ok = ok.groupby(["series", "run_id"], sort=False, as_index=False).agg(
        {**{c: "first" for c in ok.columns if c not in ("series", "run_id", "value", "spread")},
         "value": "median", "spread": "median"})
    cases = ok.assign(level="case", unit="ms")
    cases["position"] = cases.groupby("series", sort=False).cumcount()
    models = _model_points(cases)
    every = pd.concat([models, _relative_points(models), cases], ignore_index=True).assign(runs=1)
    return (_by_commit(every) if per == "commit" else every)[list(POINT_COLUMNS)]


def _by_commit(every: pd.DataFrame) -> pd.DataFrame:
    """Each series' consecutive runs of one commit pooled: a run without a commit stays a point of its own."""
    changed = every["git_commit"].ne(every.groupby("series", sort=False)["git_commit"].shift()) | (
        every["git_commit"] == "")
    block = changed.groupby(every["series"], sort=False).cumsum()
    logs = every.assign(log=np.log(every["value"]), block=block)
    grouped = logs.groupby(["series", "block"], sort=False, as_index=False)
    pooled = grouped.agg(**{c: (c, "last") for c in every.columns if c not in ("series", "value", "spread", "runs")},
                         log=("log", "mean"), log_sd=("log", "std"), runs=("log", "size"),
                         run_spread=("spread", "median"))
    pooled["value"] = np.exp(pooled.pop("log"))
    pooled["spread"] = pooled.pop("log_sd").where(pooled["runs"] > 1, pooled.pop("run_spread"))
    pooled["position"] = pooled.groupby("series", sort=False).cumcount()
    return pooled


def _model_points(cases: pd.DataFrame) -> pd.DataFrame:
    typical = cases.groupby("series")["value"].transform("median")
    relative = cases.assign(log=np.log(cases["value"] / typical))
    key = list(MODEL_KEY)
    grouped = relative.groupby([*key, "run_id"], sort=False, as_index=False)
    models = grouped.agg(**{c: (c, "first") for c in ("order", "ran", *RUN_COLUMNS[1:])},
                         log=("log", "mean"), cases=("log", "size"))
    models = models.sort_values(["order", "ran", "run_id"], kind="stable")
    models["value"] = np.exp(models.pop("log"))
    models["case"], models["level"], models["unit"], models["spread"] = "", "model", "index", np.nan
    models["series"] = [series_id(row["machine"], row["model"], row["model_sha256"][:12], row["backend"],
                                  row["device"], row["precision"]) for _, row in models.iterrows()]
    models["position"] = models.groupby("series", sort=False).cumcount()
    return models


def _relative_points(models: pd.DataFrame) -> pd.DataFrame:
    run = ["machine", "backend", "device", "precision", "run_id"]
    log = np.log(models["value"])
    grouped = log.groupby([models[c] for c in run])
    count, total = grouped.transform("size"), grouped.transform("sum")
    # With two models each mirrors the other exactly: which one moved cannot be told. From three on, the one
    # that moved shows its whole change and the others a share of it the other way (history keeps the largest).
    enough = count >= 3
    others = (total - log) / (count - 1).where(enough)
    relative = models.assign(value=np.exp(log - others), level="relative", unit="index",
                             case="against the run's other models")[enough].copy()
    relative["series"] = relative["series"] + "_relative"
    relative["position"] = relative.groupby("series", sort=False).cumcount()
    return relative

