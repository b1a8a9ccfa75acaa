"""One chart of the dashboard as inline SVG: a model's index or a case's time on every machine.

x is the run's position in its series (runs in commit order), y the value on an axis with round
ticks. Each machine is one group (`<g class="mN">`, which the page's machine picker hides): its
polyline, each run's spread as an error bar, each run as a circle with a <title> tooltip (inside an
<a> to the commit when there is a link), and each change point as a dashed vertical line between
the last good and the first bad run, labelled with its ratio and interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from bench.output.dashboard_page import (DIRECTION_COLOURS, colour, esc, machine_class, p_text, ratio_text,
                                         value_text, when)

WIDTH, HEIGHT = 1200, 300
LEFT, RIGHT, TOP, BOTTOM = 76, 16, 12, 42
AXIS_NAMES = {"index": "index (1.0 = typical)", "ms": "ms"}
LABEL_ROWS = 4  # change labels are stacked in this many rows so that neighbours do not overprint


@dataclass(frozen=True)
class Frame:
    """The data ranges and their mapping onto the plot area."""

    x_low: float
    x_high: float
    y_low: float
    y_high: float

    def x(self, position: float) -> float:
        return LEFT + (position - self.x_low) / (self.x_high - self.x_low) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        clamped = min(max(value, self.y_low), self.y_high)  # an error bar past the axis stops at its end
        return TOP + (self.y_high - clamped) / (self.y_high - self.y_low) * (HEIGHT - TOP - BOTTOM)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round ticks (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not high > low:  # one value, or all equal: a band around it
        pad = abs(low) * 0.05 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9) * step
    steps = math.ceil((high - first) / step - 1e-9)
    return [round(first + i * step, 12) for i in range(steps + 1)]


def chart(rows: pd.DataFrame, changes: pd.DataFrame, machines: dict[str, int],
          link: Callable[[str], str | None], *, label: str) -> str:
    """The SVG of one chart.

    Args:
        rows: the chart's points (one model's or one case's series, any machines), with finite values.
        changes: the change points of those series.
        machines: every machine's index (its colour and picker class, the same on every page).
        link: a commit's escaped URL, or None.
        label: the chart's name, plain text (for screen readers).
    """
    unit = str(rows["unit"].iloc[0])
    ticks = nice_ticks(float(rows["value"].min()), float(rows["value"].max()))
    last = int(rows["position"].max())
    frame = Frame(-0.5, max(last, 1) + 0.5, ticks[0], ticks[-1])
    parts = [f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" aria-label="{esc(label)}" '
             'xmlns="http://www.w3.org/2000/svg">', *_axes(frame, ticks, last, unit)]
    changes = changes.reset_index(drop=True)
    slot_of = {row_index: slot % LABEL_ROWS
               for slot, row_index in enumerate(changes.sort_values("position", kind="stable").index)}
    for machine, group in rows.groupby("machine", sort=True):
        index = machines[machine]
        parts.append(f'<g class="{machine_class(index)}" data-machine="{esc(machine)}">')
        for _, series in group.groupby("series", sort=True):  # e.g. one per backend, in the machine's colour
            parts += _series(series.sort_values("position"), frame, colour(index), link)
        for row_index, change in changes[changes["machine"] == machine].iterrows():
            parts += _change(change, frame, colour(index), slot_of[row_index], machine)
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _axes(frame: Frame, ticks: list[float], last: int, unit: str) -> list[str]:
    right = WIDTH - RIGHT
    bottom = HEIGHT - BOTTOM
    parts = []
    for tick in ticks:
        y = frame.y(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    step = max(1, int(nice_ticks(0, max(last, 1), count=10)[1]))
    for position in range(0, last + 1, step):
        x = frame.x(position)
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}"/>'
                     f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{position}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
                 f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}"/>'
                 f'<text x="{(LEFT + right) / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
                 "run (position in commit order)</text>"
                 f'<text transform="rotate(-90)" x="{-(TOP + bottom) / 2:.0f}" y="16" text-anchor="middle">'
                 f"{esc(AXIS_NAMES.get(unit, unit))}</text>")
    return parts


def _series(group: pd.DataFrame, frame: Frame, stroke: str, link: Callable[[str], str | None]) -> list[str]:
    coordinates = " ".join(f"{frame.x(p):.1f},{frame.y(v):.1f}" for p, v in zip(group["position"], group["value"]))
    parts = [f'<polyline fill="none" stroke="{stroke}" stroke-width="1.6" points="{coordinates}"/>']
    for run in group.itertuples(index=False):
        x, value, spread = frame.x(run.position), float(run.value), float(run.spread)
        if spread == spread and spread > 0:  # the run's own IQR/median, centred on its value
            top, bottom = frame.y(value * (1 + spread / 2)), frame.y(value * (1 - spread / 2))
            parts.append(f'<line stroke="{stroke}" stroke-opacity=".45" x1="{x:.1f}" x2="{x:.1f}" '
                         f'y1="{top:.1f}" y2="{bottom:.1f}"/>')
        circle = (f'<circle cx="{x:.1f}" cy="{frame.y(value):.1f}" r="3.5" fill="{stroke}">'
                  f"<title>{esc(tooltip(run))}</title></circle>")
        href = link(run.git_commit)
        parts.append(f'<a href="{href}" target="_blank" rel="noopener">{circle}</a>' if href else circle)
    return parts


def tooltip(run) -> str:
    """A point's tooltip, plain text: the run, its commit, its value and its environment."""
    spread = float(run.spread)
    return "\n".join([
        f"run {run.run_id}",
        f"commit {run.git_commit or '(unknown)'}" + (f", committed {when(run.commit_time)}" if run.commit_time else ""),
        f"run at {when(run.timestamp_utc)}",
        f"{value_text(float(run.value), run.unit)}" + (f" (spread {spread:.1%})" if spread == spread else ""),
        f"host {run.host or '?'}, CPU {run.cpu_model or '?'}",
        f"Keras {run.keras_version or '?'}, {run.backend} {run.backend_version or '?'}, "
        f"Python {run.python_version or '?'}"])


def _change(change: pd.Series, frame: Frame, stroke: str, slot: int, machine: str) -> list[str]:
    x = frame.x(float(change["position"]) - 0.5)  # between the last good and the first bad run
    text = ratio_text(change["ratio"], change["low"], change["high"])
    detail = (f"{machine}: {text} {change['direction']}, p={p_text(change['p'])}; last good "
              f"{change['last_good_commit'] or change['last_good_run']}, first bad "
              f"{change['first_bad_commit'] or change['first_bad_run']}")
    anchor, shift = ("end", -5) if x > WIDTH - 220 else ("start", 5)
    y = TOP + 14 + 15 * slot
    fill = DIRECTION_COLOURS.get(change["direction"], "#333")
    return [f'<line class="change" stroke="{stroke}" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" '
            f'y2="{HEIGHT - BOTTOM}"><title>{esc(detail)}</title></line>',
            f'<text x="{x + shift:.1f}" y="{y}" text-anchor="{anchor}" style="fill:{fill}" font-weight="600">'
            f"{esc(text)}</text>"]
