"""The report of one or more runs: report.md, a self-contained report.html and the PNG plots.

The plots (bench.output.plots): throughput against batch size, latency at batch 1
(p50/p90/p99), GPU/CPU (or backend/backend) speedup heatmaps, efficiency against
each device's measured matmul peak, the server scenario's latency against offered
load (with the table of the highest load within each bound); the pages add the hardware and software of
each run, with the peaks its calibration measured. The files are written to a hidden folder first and moved into place
only when all exist, so a failed report leaves nothing behind.
"""

from __future__ import annotations

import base64
import html
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from bench import store
from bench.output.plots import figures, max_qps_table
from bench.output.tables import render

RUN_TABLE = {"run_id": "run", "host": "host", "cpu_model": "CPU", "cpu_cores": "cores", "ram_gb": "RAM (GiB)",
             "gpus": "GPUs used", "nvidia_gpus": "NVIDIA GPUs present", "backend": "backend", "backend_version": "version",
             "keras_version": "Keras",
             "calibration_peaks_gflops": "measured matmul peaks (device/precision=GFLOP/s)"}


def load(paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Every ok case of the runs named (a store, a directory or a URL: all of its runs), their samples, and
    their measured server rows (any status)."""
    files = []
    for text in paths:
        files += store.all_runs(str(text))
    loaded = [store.load(path) for path in files]
    cases = pd.concat([run.cases for run in loaded], ignore_index=True)
    served = pd.concat([run.served for run in loaded], ignore_index=True)
    samples = [run.samples for run in loaded if run.samples is not None]
    return cases, (pd.concat(samples, ignore_index=True) if samples else None), served


def run_table(cases: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the machine and software."""
    gpus = (cases[cases["device"] != "cpu"].groupby("run_id")["device_name"]
            .agg(lambda names: ", ".join(sorted(set(names)))))
    table = cases.drop_duplicates("run_id").set_index("run_id", drop=False)
    table["gpus"] = gpus.reindex(table.index).fillna("none")
    if "nvidia_gpus" in table:  # what the driver reports, used or not (empty: no NVIDIA GPU)
        table["nvidia_gpus"] = table["nvidia_gpus"].fillna("none").replace("", "none")
    table = table[[c for c in RUN_TABLE if c in table.columns]].rename(columns=RUN_TABLE)
    return table.sort_values(["host", "run"]).reset_index(drop=True)


def write_report(paths: list[str], out: Path) -> Path:
    """Writes the report of the runs at `paths` into `out`; returns report.html's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases, samples, served = load(paths)
    plots = figures(cases, samples, served)
    tables = [("Server scenario: the highest load within the latency bound", max_qps_table(served))]
    tables = [(caption, table) for caption, table in tables if not table.empty]
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    written = False
    try:
        for name, _, fig in plots:
            fig.savefig(staging / name, dpi=110)
            plt.close(fig)
        hosts = run_table(pd.concat([cases, served], ignore_index=True).drop_duplicates(["run_id", *store.CASE_KEY]))
        (staging / "report.md").write_text(_markdown(hosts, tables, plots))
        (staging / "report.html").write_text(_html(hosts, tables, plots, staging))
        # The pages last: until they are in place, out/ holds no report that looks complete.
        names = [name for name, _, _ in plots] + ["report.md", "report.html"]
        if (out / "report.html").exists():  # an earlier report's plots that this one does not draw would mislead
            for stale in set(path.name for path in out.glob("*.png")) - set(names):
                (out / stale).unlink()
        for name in names:
            (staging / name).replace(out / name)
        written = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not written:  # a failed report leaves nothing behind, not even its folder
            shutil.rmtree(out, ignore_errors=True)
    return out / "report.html"


def _markdown(hosts, tables, plots) -> str:
    lines = ["# Benchmark report", "", "## Runs", "", render(hosts, "markdown", default_digits=1), ""]
    for caption, table in tables:
        lines += [f"## {caption}", "", render(table, "markdown"), ""]
    for name, caption, _ in plots:
        lines += [f"## {caption}", "", f"![{caption}]({name})", ""]
    return "\n".join(lines)


def _html(hosts, tables, plots, folder: Path) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Benchmark report</title>",
             "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:4px 8px}img{max-width:100%}</style></head><body>",
             "<h1>Benchmark report</h1><h2>Runs</h2>",
             hosts.to_html(index=False, float_format=lambda v: f"{v:.1f}", escape=True)]
    for caption, table in tables:
        parts += [f"<h2>{html.escape(caption)}</h2>", table.to_html(index=False, escape=True)]
    for name, caption, _ in plots:
        data = base64.b64encode((folder / name).read_bytes()).decode()
        parts.append(f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(caption)}' "
                     f"src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)
