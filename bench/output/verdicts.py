"""The gate's verdicts on screen (ab and compare): models, then cases, the noise, then what failed."""

from __future__ import annotations

import pandas as pd

from bench.analysis.gate import Verdicts
from bench.output.tables import render

# The replicates' counts: processes a side (compare), or worker pairs and their rounds (ab's paired gate).
SHOWN = ["base_ms", "head_ms", "ratio", "low", "high", "p_holm", "detectable", "n_base", "n_head", "pairs", "rounds",
         "verdict", "needs"]


def verdict_lines(verdicts: Verdicts, fmt: str = "table") -> list[str]:
    """The lines to print. `csv`: the cases' table alone, every column."""
    if fmt == "csv":
        return [render(verdicts.cases, "csv")]
    digits = {"p_holm": 4, "base_ms": 3, "head_ms": 3, "detectable": 3}
    shown = [column for column in SHOWN if column in verdicts.cases]
    case_columns = ["model", "mode", "batch_size", "device"]
    if "load" in verdicts.cases and (verdicts.cases["load"] != "").any():  # server rows: keyed by their load level
        case_columns.append("load")
    lines = [render(verdicts.models[["model", "device", *shown]], fmt, digits=digits), "",
             render(verdicts.cases[[*case_columns, *shown]], fmt, digits=digits),
             verdicts.noise]
    counts = pd.concat([verdicts.models["verdict"], verdicts.cases["verdict"]]).value_counts()
    lines.append(", ".join(f"{count} {verdict}" for verdict, count in counts.items()) + " (models, matrix and cases)")
    lines += [f"FAILED {hole}" for hole in verdicts.holes]
    lines += [f"SLOWER {name}" for name in verdicts.regressions]
    return lines
