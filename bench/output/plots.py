"""The report's plots, and the tables behind them (from a frame of ok cases; the server plot and table
from the measured server rows, whatever their status)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.results import rounds_needed, supported_percentile
from bench.store import KEY_COLUMNS

MODES_PLOTTED = ("forward", "infer", "train")


def series_label(cases: pd.DataFrame) -> pd.Series:
    """'gpu:0 jax float32': the host goes in front when the runs come from several hosts,
    and the run's UTC time behind when one label would otherwise cover several runs."""
    label = cases["device"] + " " + cases["backend"] + " " + cases["precision"]
    if cases["host"].nunique() > 1:
        label = cases["host"] + " " + label
    if (cases.groupby(label)["run_id"].nunique() > 1).any():
        label = label + " " + cases["run_id"].str.slice(0, 16)
    return label


def plot_throughput(cases: pd.DataFrame, mode: str):
    """samples/s against batch size, log-log, one panel per model, one line per series."""
    import matplotlib.pyplot as plt

    subset = cases[cases["mode"] == mode].assign(series=lambda f: series_label(f))
    models = list(dict.fromkeys(subset["model"]))
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False,
                             layout="constrained")
    for ax, model in zip(axes.flat, models):
        for series, group in subset[subset["model"] == model].groupby("series", sort=False):
            group = group.sort_values("batch_size")
            ax.plot(group["batch_size"], group["samples_per_s"], marker="o", label=series)
        ax.set(xscale="log", yscale="log", title=model, xlabel="batch size", ylabel="samples/s")
        ax.legend(fontsize="small")
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    fig.suptitle(f"Throughput, {mode} (higher is better)")
    return fig


def latency_percentiles(cases: pd.DataFrame, samples: pd.DataFrame | None) -> pd.DataFrame:
    """p50/p90/p99 ms of each batch-1 infer case, from the raw rounds where the samples file exists;
    a percentile its rounds cannot support is NaN (no bar)."""
    rows = cases[(cases["batch_size"] == 1) & (cases["mode"] == "infer")].assign(series=lambda f: series_label(f))
    out = rows[["model", "series", "median_ms", "p90_ms", "p99_ms"]].rename(
        columns={"median_ms": "p50", "p90_ms": "p90", "p99_ms": "p99"}).reset_index(drop=True)
    if samples is not None:
        key = list(KEY_COLUMNS)
        for i, (_, case) in enumerate(rows.iterrows()):
            mask = np.logical_and.reduce([samples[c] == case[c] for c in key])
            ms = samples.loc[mask, "seconds"].to_numpy() * 1e3
            if ms.size:
                out.loc[i, ["p50", "p90", "p99"]] = [np.median(ms), supported_percentile(ms, 0.90),
                                                     supported_percentile(ms, 0.99)]
    return out


def plot_latency(cases: pd.DataFrame, samples: pd.DataFrame | None):
    """Grouped bars: p50, p90 and p99 at batch 1, per model and series."""
    import matplotlib.pyplot as plt

    table = latency_percentiles(cases, samples)
    labels = [f"{m}\n{s}" for m, s in zip(table["model"], table["series"])]
    x = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(table)), 4.5), layout="constrained")
    for offset, column in zip((-0.27, 0, 0.27), ("p50", "p90", "p99")):
        ax.bar(x + offset, table[column], width=0.27, label=column)
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize="small")
    ax.set(yscale="log", ylabel="latency per batch (ms)",
           title=f"Latency at batch 1, infer (lower is better; no bar: fewer rounds than p90 needs "
                 f"({rounds_needed(0.90)}) or p99 needs ({rounds_needed(0.99)}))")
    ax.legend()
    return fig


def speedups(cases: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(title, model x batch table of ratios): each GPU over the CPU per host, backend and precision (the runs
    of one host pooled, a case's median over them), else backends over the first."""
    def medians(rows):
        return rows.groupby(["model", "batch_size"])["median_ms"].median()

    def named(title, precision):
        return title if precision == "float32" else f"{title}, {precision}"

    tables = []
    machine = [c for c in ("host", "cpu_model") if c in cases]
    for (*_, backend, precision, mode), group in cases.groupby([*machine, "backend", "precision", "mode"],
                                                               sort=False):
        cpu = medians(group[group["device"] == "cpu"])
        gpus = group[group["device"] != "cpu"]
        for (device, name), rows in gpus.groupby(["device", "device_name"]):
            ratio = (cpu / medians(rows)).dropna()
            if not ratio.empty:
                tables.append((named(f"{device} ({name}) over cpu, {backend}, {mode}", precision),
                               ratio.unstack("batch_size")))
    if not tables and cases["backend"].nunique() > 1:
        first = cases["backend"].iloc[0]
        for (device, precision, mode), group in cases.groupby(["device", "precision", "mode"], sort=False):
            base = medians(group[group["backend"] == first])
            for backend in group["backend"].unique():
                if backend != first:
                    ratio = (base / medians(group[group["backend"] == backend])).dropna()
                    if not ratio.empty:
                        tables.append((named(f"{backend} over {first}, {device}, {mode}", precision),
                                       ratio.unstack("batch_size")))
    return tables


def plot_speedup(title: str, table: pd.DataFrame):
    """A model x batch-size heatmap of speedups, each cell annotated."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(1.4 * table.shape[1] + 4, 0.55 * table.shape[0] + 1.8), layout="constrained")
    values = table.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    bound = max(float(np.abs(np.log10(finite)).max()), 0.1)
    image = ax.imshow(values, cmap="RdBu", norm=LogNorm(10**-bound, 10**bound), aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):  # white on the dark ends of the colour map
            colour = "white" if abs(np.log10(value)) > bound / 2 else "black"
            ax.text(j, i, f"{value:.2f}x", ha="center", va="center", fontsize="small", color=colour)
    ax.set_xticks(range(table.shape[1]), table.columns)
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.set(xlabel="batch size", title=f"Speedup: {title} (above 1: faster)")
    bar = fig.colorbar(image, ax=ax, label="speedup")
    bar.set_ticks(np.geomspace(10**-bound, 10**bound, 5))
    bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%.2gx"))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return fig


def efficiency(cases: pd.DataFrame) -> pd.DataFrame:
    """Single-device cases' achieved GFLOP/s as a fraction of their own device's measured matmul peak at
    their precision (rows without a measured peak, e.g. from runs before calibration, are left out). Where
    a case ran both `forward` and `infer`, inference is the forward row: infer adds Keras' per-call cost,
    which is not the device's work."""
    measured = cases[cases["efficiency"].notna()] if "efficiency" in cases else cases.iloc[:0]
    twin = ["run_id", "model", "device", "batch_size", "precision"]
    forwards = measured.loc[measured["mode"] == "forward", twin].drop_duplicates()
    has_forward = measured[twin].merge(forwards, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    return measured[~((measured["mode"] == "infer").to_numpy() & has_forward)].assign(series=lambda f: series_label(f))


def plot_efficiency(cases: pd.DataFrame):
    """Percent of the device's measured peak against batch size: a panel per mode, a colour per model,
    a line style per series (device, backend, precision, host)."""
    import matplotlib.pyplot as plt

    table = efficiency(cases)
    modes = list(dict.fromkeys(table["mode"]))
    colours = {model: f"C{i % 10}" for i, model in enumerate(dict.fromkeys(table["model"]))}
    styles = {series: ("-", "--", ":", "-.")[i % 4] for i, series in enumerate(dict.fromkeys(table["series"]))}
    fig, axes = plt.subplots(1, len(modes), figsize=(4.2 * len(modes) + 3, 4.5), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, mode in zip(axes[0], modes):
        for (model, series), group in table[table["mode"] == mode].groupby(["model", "series"], sort=False):
            group = group.sort_values("batch_size")
            label = model if len(styles) == 1 else f"{model} ({series})"
            ax.plot(group["batch_size"], 100 * group["efficiency"], marker="o", color=colours[model],
                    linestyle=styles[series], label=label)
        ax.axhline(100, color="black", linestyle="--", linewidth=1, label="measured matmul peak")
        ax.set(xscale="log", yscale="log", xlabel="batch size", title=mode)
    axes[0][0].set_ylabel("% of the device's measured matmul peak")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    fig.suptitle("Efficiency: achieved GFLOP/s over the device's measured matmul GFLOP/s at the row's precision"
                 + ("\n(inference: the forward rows; infer only where forward was not run)" if "forward" in modes else ""))
    return fig


def scaling_rows(cases: pd.DataFrame) -> pd.DataFrame:
    """The data-parallel rows that carry a scaling efficiency."""
    if "scaling_efficiency" not in cases:
        return cases.iloc[0:0]
    return cases[cases["scaling_efficiency"].notna()].assign(series=lambda f: series_label(f))


def plot_scaling(cases: pd.DataFrame):
    """Throughput and scaling efficiency against the number of replicas."""
    import matplotlib.pyplot as plt

    table = scaling_rows(cases)
    fig, (rate, efficiency_ax) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for (model, per_replica, series), group in table.groupby(["model", "per_replica_batch", "series"], sort=False):
        group = group.sort_values("replicas")
        label = f"{model}, {per_replica}/replica ({series})"
        rate.plot(group["replicas"], group["samples_per_s"], marker="o", label=label)
        efficiency_ax.plot(group["replicas"], 100 * group["scaling_efficiency"], marker="o", label=label)
    replicas = sorted(table["replicas"].unique())
    rate.set(xticks=replicas, xlabel="replicas", ylabel="samples/s (global)", title="Data-parallel training throughput")
    efficiency_ax.axhline(100, color="black", linestyle="--", linewidth=1)
    efficiency_ax.set(xticks=replicas, xlabel="replicas", ylabel="scaling efficiency (%)", ylim=(0, 120),
                      title="Throughput(N) / (N x throughput(1))")
    rate.legend(fontsize="small")
    return fig


def server_levels(served: pd.DataFrame) -> pd.DataFrame:
    """The server rows as load levels: offered QPS and latency per series, a search's row among them."""
    return served.assign(series=lambda f: series_label(f)).sort_values("offered_qps")


def plot_serving(served: pd.DataFrame):
    """p50 (dashed) and p99 (solid) latency against offered QPS, one panel per model, a colour per series;
    a level that did not stand (overloaded, generator late) is drawn as a cross, with its status."""
    import matplotlib.pyplot as plt

    from matplotlib.ticker import LogFormatter

    table = server_levels(served)
    models = list(dict.fromkeys(table["model"]))
    colours = {series: f"C{i % 10}" for i, series in enumerate(dict.fromkeys(table["series"]))}
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(max(8, 5.5 * columns), 4.5 * rows), squeeze=False,
                             layout="constrained")
    for ax, model in zip(axes.flat, models):
        for series, group in table[table["model"] == model].groupby("series", sort=False):
            colour = colours[series]
            ax.plot(group["offered_qps"], group["median_ms"], linestyle="--", color=colour, marker=".")
            ax.plot(group["offered_qps"], group["p99_ms"], linestyle="-", color=colour, marker="o", label=series)
            failed = group[(group["status"] != "ok") | group["generator_late"].astype(bool)]
            ax.scatter(failed["offered_qps"], failed["p99_ms"].fillna(failed["max_ms"]), marker="x", s=80,
                       color="black", zorder=3)
            for _, level in failed.iterrows():
                note = level["status"] if level["status"] != "ok" else "generator late"
                ax.annotate(note, (level["offered_qps"], level["p99_ms"] if level["p99_ms"] == level[
                    "p99_ms"] else level["max_ms"]), fontsize="x-small", xytext=(4, 4), textcoords="offset points")
            for bound in group["latency_bound_ms"].dropna().unique():
                ax.axhline(bound, color="grey", linestyle=":", linewidth=1)
        ax.set(xscale="log", yscale="log", title=model, xlabel="offered load (queries/s)", ylabel="latency (ms)")
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers (20, not 2 x 10^1), minor ones too on a short range
            axis.set_major_formatter(LogFormatter())
            axis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))
        ax.legend(fontsize="small", title="p99 solid, p50 dashed", title_fontsize="small")
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    fig.suptitle("Server scenario: latency from scheduled arrival to result\n"
                 "x: a level that did not stand (its status); dotted: a search's p99 bound")
    return fig


def max_qps_table(served: pd.DataFrame) -> pd.DataFrame:
    """The searches' answers: the highest offered QPS within each bound, a column per device and backend
    (and host, when the runs come from several); "none" where no load met the bound."""
    if served.empty or "latency_bound_ms" not in served:  # no server rows (runs before the scenario)
        return served.iloc[0:0]
    searches = served[served["latency_bound_ms"].notna()]
    if searches.empty:
        return searches.iloc[0:0]
    column = searches["device"] + " " + searches["backend"]
    if searches["host"].nunique() > 1:
        column = searches["host"] + " " + column
    answer = searches["max_qps_at_bound"].map(lambda qps: "none" if qps != qps else f"{qps:,.0f}")
    answer = answer.where(~searches["generator_late"].astype(bool), answer + " (generator late)")
    table = searches.assign(column=column, answer=answer, bound=searches["latency_bound_ms"].map(
        lambda ms: f"p99 <= {ms:g} ms"), max_batch=searches["batch_size"])
    wide = table.pivot_table(index=["model", "bound", "max_batch"], columns="column", values="answer",
                             aggfunc="last")
    return wide.reset_index().rename_axis(columns=None)


def figures(all_cases: pd.DataFrame, samples: pd.DataFrame | None,
            served: pd.DataFrame | None = None) -> list[tuple[str, str, object]]:
    """(file name, caption, Figure) for every plot the runs allow."""
    made = []
    if served is not None and not served.empty:
        made.append(("serving.png", "Server scenario: latency against offered load", plot_serving(served)))
    all_cases = all_cases[all_cases["scenario"] == "batch"]  # the server rows have their own plot
    if all_cases.empty:
        return made
    if not scaling_rows(all_cases).empty:
        made.append(("scaling.png", "Data-parallel scaling", plot_scaling(all_cases)))
    cases = all_cases[all_cases["replicas"] == 1]  # one device per case: the other plots
    for mode in MODES_PLOTTED:
        if (cases["mode"] == mode).any():
            made.append((f"throughput_{mode}.png", f"Throughput against batch size, {mode}",
                         plot_throughput(cases, mode)))
    if ((cases["batch_size"] == 1) & (cases["mode"] == "infer")).any():
        made.append(("latency_batch1.png", "Latency at batch 1 (p50, p90, p99)", plot_latency(cases, samples)))
    for i, (title, table) in enumerate(speedups(cases)):
        made.append((f"speedup_{i + 1}.png", f"Speedup: {title}", plot_speedup(title, table)))
    if not efficiency(cases).empty:
        made.append(("efficiency.png", "Efficiency against the measured matmul peak", plot_efficiency(cases)))
    return made
