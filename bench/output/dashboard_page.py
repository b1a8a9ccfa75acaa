"""The dashboard's page shell: the HTML5 frame, its inline CSS and JavaScript, and the small builders
(escaping, tables, the machine picker) shared by the index and the model pages.

Every page is one self-contained file that works from file:// with no network: no external script,
style sheet or font. Text from the data is escaped here (`esc`) or by the caller before it reaches a
cell; the only script on a page is the constant `SCRIPT` below, which reads machine names from the
checkboxes' values, never from markup it builds itself.
"""

from __future__ import annotations

import html
from functools import lru_cache
from collections.abc import Iterable, Sequence

import pandas as pd

# In the head of every page the dashboard writes: how it recognises its own stale pages in `out`.
GENERATOR = "keras-bench dashboard"
# Tableau 10: distinguishable, and readable on white.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
DIRECTION_COLOURS = {"slower": "#b3261e", "faster": "#1b7a34"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1240px;
 padding:0 16px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#666;margin-top:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.slower .dir{color:#b3261e;font-weight:600}tr.faster .dir{color:#1b7a34;font-weight:600}
tr.slower{background:#fdf0ef}tr.faster{background:#eff8f1}
code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em}
.picker{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #ddd;z-index:1}
.picker label{margin-right:16px;white-space:nowrap;cursor:pointer}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin:0 4px -1px 2px}
.chart{margin:18px 0}.chart h3{margin:0 0 2px 0;font-size:1.05em}
svg.plot{width:100%;height:auto;display:block}
svg.plot text{font-size:12px;fill:#333}svg.plot .grid{stroke:#e4e4e4}svg.plot .axis{stroke:#888}
svg.plot circle:hover{r:6}svg.plot .change{stroke-dasharray:6 4;stroke-width:1.5}
.off{display:none !important}
"""

# Toggles the class `off` on every element of an unchecked machine's class (m0, m1, ...). The
# choice comes from, and goes back to, the URL's hash (#machines=a,b), so a link can share it.
SCRIPT = """
(function () {
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input.machine'));
  function chosenInHash() {
    var match = /(?:^#|&)machines=([^&]*)/.exec(location.hash);
    if (!match) return null;
    try { return match[1].split(',').map(decodeURIComponent); } catch (e) { return null; }
  }
  function fromHash() {
    var chosen = chosenInHash();
    if (!chosen || !boxes.some(function (box) { return chosen.indexOf(box.value) >= 0; })) return;
    boxes.forEach(function (box) { box.checked = chosen.indexOf(box.value) >= 0; });
  }
  function apply() {
    boxes.forEach(function (box) {
      box.toggleAttribute('checked', box.checked);
      document.querySelectorAll('.' + box.dataset.cls).forEach(function (element) {
        element.classList.toggle('off', !box.checked);
      });
    });
    document.body.dataset.shownMachines = boxes.filter(function (box) { return box.checked; })
      .map(function (box) { return box.value; }).join(',');
  }
  function toHash() {
    var chosen = boxes.filter(function (box) { return box.checked; })
      .map(function (box) { return encodeURIComponent(box.value); });
    try { history.replaceState(null, '', '#machines=' + chosen.join(',')); } catch (e) {}
  }
  boxes.forEach(function (box) {
    box.addEventListener('change', function () { toHash(); apply(); });
  });
  window.addEventListener('hashchange', function () { fromHash(); apply(); });
  fromHash();
  apply();
})();
"""


def esc(value) -> str:
    """A data value as HTML text or attribute value (None and NaN as empty)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return html.escape(str(value), quote=True)


def machine_class(index: int) -> str:
    """The class that the picker toggles on a machine's elements."""
    return f"m{index}"


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def page(title: str, body: Iterable[str], *, script: bool = False) -> str:
    """A complete HTML5 document; `title` is plain text, `body` is markup already escaped."""
    scripts = f"<script>{SCRIPT}</script>" if script else ""
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{GENERATOR}">', f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style></head><body>", *body, scripts, "</body></html>", ""])


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, row_classes: Iterable[str] | None = None,
          numeric: Iterable[int] = ()) -> str:
    """A table of markup cells (escaped by the caller); `headers` are plain text; `numeric`: the
    indexes of right-aligned columns."""
    right = set(numeric)
    head = "".join(f"<th>{esc(header)}</th>" for header in headers)
    classes = iter(row_classes) if row_classes is not None else None
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for cells in rows:
        row_class = next(classes) if classes is not None else ""
        attribute = f' class="{row_class}"' if row_class else ""
        tds = "".join(f'<td class="num">{cell}</td>' if i in right else f"<td>{cell}</td>"
                      for i, cell in enumerate(cells))
        lines.append(f"<tr{attribute}>{tds}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def machine_picker(machines: Sequence[tuple[int, str]]) -> str:
    """One checkbox per (index, name) machine, all checked; the script narrows them from the URL's hash."""
    labels = [f'<label><input type="checkbox" class="machine" value="{esc(name)}" '
              f'data-cls="{machine_class(index)}" checked>'
              f'<span class="swatch" style="background:{colour(index)}"></span>{esc(name)}</label>'
              for index, name in machines]
    return '<div class="picker" id="machines"><strong>Machines:</strong> ' + "".join(labels) + "</div>"


@lru_cache(maxsize=4096)  # each run's times recur in every one of its series' tooltips and tables
def when(value) -> str:
    """An ISO 8601 time (or a Timestamp) as 'YYYY-MM-DD HH:MM' UTC, plain text; other text as it is."""
    if not isinstance(value, (str, pd.Timestamp)) or value == "" or pd.isna(value):
        return ""
    stamp = pd.to_datetime(value, utc=True, errors="coerce")
    return str(value) if pd.isna(stamp) else stamp.strftime("%Y-%m-%d %H:%M")


def value_text(value: float, unit: str) -> str:
    """A series' value with its unit: an index to 3 decimals, a time to 4 significant digits."""
    if value != value:
        return ""
    if unit == "index":
        return f"{value:.3f}"
    return (f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}") + f" {unit}"


def ratio_text(ratio: float, low: float, high: float) -> str:
    """A change's ratio and its 99% interval, e.g. 'x1.10 [1.06, 1.14]'."""
    return f"x{ratio:.2f} [{low:.2f}, {high:.2f}]"


def p_text(p: float) -> str:
    return "" if p != p else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")
