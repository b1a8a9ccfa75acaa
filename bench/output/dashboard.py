"""The history dashboard: a static site of every run of a results store (`python -m bench history`).

index.html lists the change points (recent and newest first), the machines and the models;
model-<slug>.html draws the model's series and then one chart per case (bench.output.dashboard_chart),
with a machine picker and each machine's run environments. Pages are self-contained HTML with inline
SVG and a little inline JavaScript (bench.output.dashboard_page): they open from file://, offline.
Every text from the data is escaped; a commit link is the --commit-url template filled with a
hexadecimal hash only, so a commit field cannot inject markup or another address.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from bench.output.dashboard_chart import chart
from bench.output.dashboard_page import (GENERATOR, esc, machine_class, machine_picker, p_text, page, ratio_text,
                                         table, value_text, when)
from bench.parsers import OptionError

POINT_COLUMNS = ("machine", "level", "model", "case", "series", "backend", "device", "precision", "run_id",
                 "git_commit", "commit_time", "timestamp_utc", "position", "value", "unit", "spread")
ENVIRONMENT_COLUMNS = ("host", "cpu_model", "keras_version", "backend_version", "python_version")
CHANGE_COLUMNS = ("machine", "level", "model", "case", "series", "position", "last_good_commit", "first_bad_commit",
                  "last_good_run", "first_bad_run", "ratio", "low", "high", "p", "direction", "recent")
NUMBERS = ("value", "spread", "ratio", "low", "high", "p")
HEX = re.compile(r"[0-9a-fA-F]{4,40}")
COMMIT_URL_EXAMPLE = "https://github.com/owner/repo/commit/{commit}"


def check_commit_url(text: str) -> str:
    """--commit-url: "" (no links) or an http(s) address holding {commit}; else OptionError."""
    if text and not (re.fullmatch(r"https?://\S+", text) and "{commit}" in text):
        raise OptionError(f"--commit-url: {text!r} is not an http(s) address with {{commit}} in it; "
                          f"give e.g. {COMMIT_URL_EXAMPLE}")
    return text


class Commits:
    """A commit's short text and, with a template, its link."""

    def __init__(self, template: str):
        self.template = check_commit_url(template)

    def href(self, commit: str) -> str | None:
        """The escaped URL of a commit (a dirty one: its base), or None without a template or a hash."""
        base = str(commit).removesuffix("+dirty")
        if not self.template or not HEX.fullmatch(base):
            return None
        return esc(self.template.replace("{commit}", base.lower()))

    def cell(self, commit: str) -> str:
        """The short hash (+dirty), linked when possible; the whole commit in its tooltip."""
        if not commit:
            return ""
        base = str(commit).removesuffix("+dirty")
        text = esc(base[:10] + ("+dirty" if base != commit else ""))
        href = self.href(commit)
        code = f'<code title="{esc(commit)}">{text}</code>'
        return f'<a href="{href}" target="_blank" rel="noopener">{code}</a>' if href else code


def write_dashboard(points: pd.DataFrame, changes: pd.DataFrame, out: Path, *, commit_url: str = "",
                    title: str = "keras benchmark history") -> Path:
    """Writes out/index.html and one page per model (out/model-<slug>.html); returns index.html's path.

    Args:
        points: one row per (series, run): the columns POINT_COLUMNS (ENVIRONMENT_COLUMNS optional).
        changes: one row per change point: the columns CHANGE_COLUMNS (an empty frame: none).
        out: the folder; the dashboard's own pages there are overwritten (a model page it no longer
            writes is removed), nothing else is touched.
        commit_url: a template like "https://github.com/owner/repo/commit/{commit}"; "" = no links
            (the commit is shown in the tooltip).
        title: the index page's heading.
    """
    commits = Commits(commit_url)
    points = _checked(points, POINT_COLUMNS, "points")
    changes = _ordered(_checked(changes, CHANGE_COLUMNS, "changes"), points)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out: {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    machines = {name: index for index, name in enumerate(sorted(points["machine"].unique()))}
    files = page_names(sorted(points["model"].unique()))
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    pages = {name: _model_page(model, points[points["model"] == model], changes[changes["model"] == model],
                               machines, files, commits, f"{model} - {title}", generated)
             for model, name in files.items()}
    pages["index.html"] = _index_page(points, changes, machines, files, commits, title, generated)
    for name, text in pages.items():
        temporary = out / f".{name}.tmp"
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(out / name)
    for stale in out.glob("model-*.html"):  # a model that left the store: only pages this module wrote go
        if stale.name not in pages and GENERATOR in stale.read_text(encoding="utf-8", errors="replace")[:1000]:
            stale.unlink()
    return out / "index.html"


def page_names(models: list[str]) -> dict[str, str]:
    """Each model's page file, model-<slug>.html: lower-case letters, digits and hyphens, unique."""
    names: dict[str, str] = {}
    for model in models:
        slug = re.sub(r"[^a-z0-9]+", "-", str(model).lower()).strip("-")[:60] or "model"
        name, number = f"model-{slug}.html", 2
        while name in names.values():
            name, number = f"model-{slug}-{number}.html", number + 1
        names[model] = name
    return names


def chart_id(model: str, level: str, case: str) -> str:
    """A chart's HTML id, the same on the index's links and on its page."""
    return "chart-" + hashlib.sha1(f"{model}\0{level}\0{case}".encode()).hexdigest()[:12]


def _checked(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    if frame.empty:  # no runs or no change points, whatever the columns of the frame that says so
        extra = ENVIRONMENT_COLUMNS if name == "points" else ()
        return pd.DataFrame({column: pd.Series(dtype=object) for column in (*columns, *extra)})
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {', '.join(missing)}. Received: columns={list(frame.columns)}")
    frame = frame.copy()
    for column in ENVIRONMENT_COLUMNS if name == "points" else ():
        frame[column] = frame[column] if column in frame.columns else ""
    for column in frame.columns:
        if column in NUMBERS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        elif column == "position":
            frame[column] = frame[column].astype(int)
        elif column != "recent":
            frame[column] = frame[column].fillna("").astype(str)
    return frame.reset_index(drop=True)


def _ordered(changes: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """The change points, recent first, then newest first (by the first bad run's time)."""
    times = points.drop_duplicates("run_id").set_index("run_id")["timestamp_utc"]
    changes = changes.assign(when=pd.to_datetime(changes["first_bad_run"].map(times), utc=True, errors="coerce"),
                             recent=changes["recent"].fillna(False).astype(bool))
    return changes.sort_values(["recent", "when", "position"], ascending=False, na_position="last",
                               kind="stable").reset_index(drop=True)


def _change_table(changes: pd.DataFrame, files: dict[str, str], machines: dict[str, int], commits: Commits) -> str:
    if changes.empty:
        return '<p class="meta">No change points found.</p>'
    rows, classes = [], []
    for change in changes.itertuples(index=False):
        model = esc(change.model)
        if change.model in files:
            target = f"{files[change.model]}#{chart_id(change.model, change.level, change.case)}"
            model = f'<a href="{esc(target)}">{model}</a>'
        rows.append([esc(change.machine), model,
                     esc(change.case or "all cases (index)"), commits.cell(change.last_good_commit),
                     commits.cell(change.first_bad_commit), esc(when(change.when)),
                     esc(ratio_text(change.ratio, change.low, change.high)), esc(p_text(change.p)),
                     f'<span class="dir">{esc(change.direction)}</span>', "recent" if change.recent else ""])
        toggled = machine_class(machines[change.machine]) if change.machine in machines else ""
        classes.append(f"{esc(change.direction)} {toggled}".strip())
    return table(["machine", "model", "case", "last good", "first bad", "first bad run at", "ratio [99% interval]",
                  "p", "direction", ""], rows, row_classes=classes, numeric=[6, 7])


def _index_page(points, changes, machines, files, commits, title, generated) -> str:
    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="meta">Generated {esc(generated)} from {points["run_id"].nunique()} runs on '
            f"{len(machines)} machines, {len(files)} models.</p>",
            "<h2>Change points</h2>", _change_table(changes, files, machines, commits),
            "<h2>Machines</h2>", _machine_table(points), "<h2>Models</h2>",
            _model_table(points, changes, machines, files)]
    return page(title, body)


def _machine_table(points: pd.DataFrame) -> str:
    rows = []
    for machine, group in points.groupby("machine", sort=True):
        stamps = pd.to_datetime(group["timestamp_utc"], utc=True, errors="coerce")
        rows.append([esc(machine), str(group["run_id"].nunique()),
                     esc(when(stamps.min())), esc(when(stamps.max())),
                     esc(", ".join(sorted(set(group["cpu_model"]) - {""}))),
                     esc(", ".join(sorted(set(group["host"]) - {""})))])
    return table(["machine", "runs", "first run", "last run", "CPU", "hosts seen"], rows, numeric=[1])


def _model_table(points, changes, machines, files) -> str:
    rows = []
    for model, name in files.items():
        rows_of_model = points[points["model"] == model]
        latest = changes[changes["model"] == model].sort_values("when", ascending=False, na_position="last")
        described = "" if latest.empty else esc(_described(latest.iloc[0]))
        cells = [f'<a href="{esc(name)}">{esc(model)}</a>', str(rows_of_model["series"].nunique()), described]
        for machine in machines:
            own = rows_of_model[(rows_of_model["machine"] == machine) & (rows_of_model["level"] == "model")]
            own = own[own["value"].notna()]
            cells.append("" if own.empty else esc(value_text(*own.loc[own["position"].idxmax(), ["value", "unit"]])))
        rows.append(cells)
    headers = ["model", "series", "latest change point", *[f"latest index, {machine}" for machine in machines]]
    return table(headers, rows, numeric=[1, *range(3, 3 + len(machines))])


def _described(change: pd.Series) -> str:
    return (f"{ratio_text(change['ratio'], change['low'], change['high'])} {change['direction']} on "
            f"{change['machine']}, {change['case'] or 'all cases'}")


def _model_page(model, points, changes, machines, files, commits, title, generated) -> str:
    present = [(machines[name], name) for name in sorted(points["machine"].unique())]
    body = ['<p><a href="index.html">&larr; all models</a></p>', f"<h1>{esc(model)}</h1>",
            f'<p class="meta">Generated {esc(generated)}: {points["series"].nunique()} series on '
            f"{len(present)} machines.</p>", machine_picker(present)]
    if not changes.empty:
        body += ["<h2>Change points</h2>", _change_table(changes, files, machines, commits)]
    body.append("<h2>Charts</h2>")
    # The model's own index, then against the run's other models (where a change of one model shows), then its cases.
    rank = points["level"].map({"model": 0, "relative": 1}).fillna(2)
    charts = points.assign(rank=rank).groupby(["rank", "level", "case"], sort=True)
    for (_, level, case), rows in charts:
        label = case or f"{model}: every case, geometric-mean index"
        finite = rows[rows["value"].notna()]
        mine = changes[(changes["level"] == level) & (changes["case"] == case)]
        drawn = chart(finite, mine, machines, commits.href, label=label) if not finite.empty \
            else '<p class="meta">No values.</p>'
        body.append(f'<section class="chart" id="{chart_id(model, level, case)}"><h3>{esc(label)}</h3>'
                    f"{drawn}</section>")
    body.append("<h2>Environments</h2>")
    for index, machine in present:
        body.append(f'<section class="{machine_class(index)}"><h3>{esc(machine)}</h3>'
                    f"{_environment_table(points[points['machine'] == machine], commits)}</section>")
    return page(title, body, script=True)


def _environment_table(points: pd.DataFrame, commits: Commits) -> str:
    """One row per run, in the order of its series."""
    runs = points.sort_values(["position", "timestamp_utc"], kind="stable").drop_duplicates("run_id")
    rows = [[esc(run.run_id), esc(when(run.timestamp_utc)), commits.cell(run.git_commit), esc(when(run.commit_time)),
             esc(run.host), esc(run.cpu_model), esc(run.backend), esc(run.backend_version), esc(run.keras_version),
             esc(run.python_version)] for run in runs.itertuples(index=False)]
    return table(["run", "run at", "commit", "committed", "host", "CPU", "backend", "backend version", "Keras",
                  "Python"], rows)
