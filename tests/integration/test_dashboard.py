"""The history dashboard (bench.output.dashboard) on synthetic history: two machines, two models (one
named with a <script> tag), a few cases, one change point. The pages are checked as written, and as
headless Chromium renders them from file:// after their script ran (skipped without a chromium,
failed instead when KERAS_BENCH_REQUIRE_CHROMIUM=1)."""

import hashlib
import os
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest

from bench.output.dashboard import write_dashboard
from bench.output.dashboard_chart import nice_ticks
from bench.parsers import OptionError

pytestmark = pytest.mark.integration

EVIL = "evil<script>window.pwned = 1</script>"  # a leak would run, never block on a dialog
EVIL_PAGE = "model-evil-script-window-pwned-1-script.html"
COMMIT_URL = "https://example.org/repo/commit/{commit}"
CASES = ("infer b32 cpu tensorflow float32", "train b32 cpu tensorflow float32")
MACHINES = {"vm": ("vm-1", "AMD EPYC 7B13", 1.0), "h100": ("gpu-box", "Intel Xeon 8480", 0.25)}
RATIO = "x1.10 [1.06, 1.14]"


def commit(position: int) -> str:
    return hashlib.sha1(str(position).encode()).hexdigest()


def make_points(models=("mnist_cnn", EVIL), runs: int = 8) -> pd.DataFrame:
    """Every machine runs every commit; vm's mnist_cnn infer is 10% slower from position 5 on."""
    rows = []
    for machine, (host, cpu, scale) in MACHINES.items():
        for model in models:
            for level, case in [("model", ""), *[("case", case) for case in CASES]]:
                for position in range(runs):
                    slower = 1.1 if (machine, model, case, position >= 5) == ("vm", "mnist_cnn", CASES[0], True) else 1
                    rows.append(dict(
                        machine=machine, level=level, model=model, case=case, series=f"{machine}/{model}/{case}",
                        backend="tensorflow", device="cpu", precision="float32", run_id=f"{machine}-run{position}",
                        git_commit=commit(position) + ("+dirty" if position == runs - 1 else ""),
                        commit_time=f"2026-11-{position + 1:02d}T10:00:00+00:00",
                        timestamp_utc=f"2026-11-{position + 1:02d}T12:00:00+00:00", position=position,
                        value=(1.0 if level == "model" else 12.0 * scale * slower) * (1 + 0.01 * (position % 3)),
                        unit="index" if level == "model" else "ms", spread=0.03 if position % 4 else float("nan"),
                        host=host, cpu_model=cpu, keras_version="3.6.0", backend_version="2.18.0",
                        python_version="3.11.9"))
    return pd.DataFrame(rows)


def make_changes() -> pd.DataFrame:
    return pd.DataFrame([dict(
        machine="vm", level="case", model="mnist_cnn", case=CASES[0], series=f"vm/mnist_cnn/{CASES[0]}", position=5,
        last_good_commit=commit(4), first_bad_commit=commit(5), last_good_run="vm-run4", first_bad_run="vm-run5",
        ratio=1.1, low=1.06, high=1.14, p=1e-4, direction="slower", recent=True)])


class Element:
    def __init__(self, tag, attrs):
        self.tag, self.attrs, self.text = tag, dict(attrs), ""

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class Tree(HTMLParser):
    """Every element with its attributes and text; strict: an end tag must close the innermost element."""

    VOID = {"meta", "input", "br", "img", "link", "hr", "source", "wbr"}

    def __init__(self, text: str):
        super().__init__()
        self.elements, self.open = [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append(Element(tag, attrs))
        if tag not in self.VOID:
            self.open.append(self.elements[-1])

    def handle_startendtag(self, tag, attrs):  # <line/> in SVG
        self.elements.append(Element(tag, attrs))

    def handle_endtag(self, tag):
        assert self.open and self.open[-1].tag == tag, f"</{tag}> closes <{self.open[-1].tag if self.open else ''}>"
        self.open.pop()

    def handle_data(self, data):
        for element in self.open:
            element.text += data

    def all(self, tag=None, **attrs):
        return [e for e in self.elements if (tag is None or e.tag == tag)
                and all(e.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items())]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("dashboard")
    write_dashboard(make_points(), make_changes(), out, commit_url=COMMIT_URL)
    return out


# Without a browser: the files as written.

def test_the_pages_are_well_formed_and_escape_the_data(site):
    names = sorted(path.name for path in site.glob("*.html"))
    assert names == ["index.html", EVIL_PAGE, "model-mnist-cnn.html"]
    for name in names:
        text = (site / name).read_text()
        tree = Tree(text)
        assert tree.open == [], f"{name}: unclosed elements"
        assert EVIL not in text
        assert len(tree.all("script")) == (0 if name == "index.html" else 1)  # only the picker's own
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch
    index = Tree((site / "index.html").read_text())
    assert [link.text for link in index.all("a", href=EVIL_PAGE)] == [EVIL]


def test_without_change_points_or_a_commit_url(tmp_path):
    write_dashboard(make_points(models=("mnist_cnn",)), pd.DataFrame(), tmp_path)
    index = (tmp_path / "index.html").read_text()
    assert "No change points found." in index
    page = Tree((tmp_path / "model-mnist-cnn.html").read_text())
    assert page.all("a", target="_blank") == []
    tooltips = [element.text for element in page.all("title") if "run vm-run2" in element.text]
    assert tooltips and all(f"commit {commit(2)}" in text for text in tooltips)


def test_an_empty_history_is_an_index_without_models(tmp_path):
    write_dashboard(pd.DataFrame(), pd.DataFrame(), tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["index.html"]
    index = (tmp_path / "index.html").read_text()
    assert "from 0 runs on 0 machines, 0 models" in index and "No change points found." in index


def test_a_commit_that_is_not_a_hash_is_shown_escaped_and_never_linked(tmp_path):
    points = make_points(models=("mnist_cnn",), runs=2)
    points["git_commit"] = '"><img src=x onerror=alert(1)>'
    write_dashboard(points, pd.DataFrame(), tmp_path, commit_url=COMMIT_URL)
    text = (tmp_path / "model-mnist-cnn.html").read_text()
    assert "<img" not in text and "example.org" not in text
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in text


@pytest.mark.parametrize("template", ["javascript:alert('{commit}')", "https://example.org/commit/",
                                      "https://example.org/{commit} x"])
def test_a_bad_commit_url_is_one_line(tmp_path, template):
    with pytest.raises(OptionError, match=r"^--commit-url: .* give e.g. https://github.com/owner/repo/commit/"):
        write_dashboard(make_points(models=("mnist_cnn",), runs=2), pd.DataFrame(), tmp_path, commit_url=template)
    assert list(tmp_path.iterdir()) == []


def test_a_rewrite_replaces_only_its_own_pages(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "model-mine.html").write_text("<!doctype html><p>a page of my own</p>")
    write_dashboard(make_points(), make_changes(), tmp_path)
    write_dashboard(make_points(models=("mnist_cnn",)), make_changes(), tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["index.html", "model-mine.html",
                                                               "model-mnist-cnn.html", "notes.txt"]


def test_points_without_a_column_are_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"^points lacks the columns value\. Received: columns=\["):
        write_dashboard(make_points(runs=1).drop(columns="value"), pd.DataFrame(), tmp_path)


def test_the_axis_ticks_are_round_and_cover_the_values():
    assert nice_ticks(0.93, 1.12) == [0.9, 0.95, 1.0, 1.05, 1.1, 1.15]
    assert nice_ticks(3.0, 3.0) == [2.8, 2.9, 3.0, 3.1, 3.2]
    assert nice_ticks(0.0, 230.0)[0] == 0 and nice_ticks(0.0, 230.0)[-1] >= 230


# In Chromium: the DOM after the pages' script ran, and a screenshot.

@pytest.fixture(scope="module")
def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "no chromium or chromium-browser on PATH (Debian: apt-get install chromium)"
    if os.environ.get("KERAS_BENCH_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"KERAS_BENCH_REQUIRE_CHROMIUM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def browse(chromium, tmp_path, url, *flags) -> str:
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}", *flags, url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_index_in_chromium_lists_the_change_point_with_links(chromium, site, tmp_path):
    dom = Tree(browse(chromium, tmp_path, (site / "index.html").as_uri(), "--dump-dom"))
    rows = [row for row in dom.all("tr") if "slower" in row.classes]
    assert len(rows) == 1 and RATIO in rows[0].text and "mnist_cnn" in rows[0].text
    links = {link.attrs["href"] for link in dom.all("a")}
    assert {COMMIT_URL.format(commit=commit(4)), COMMIT_URL.format(commit=commit(5))} <= links
    assert [link.text for link in dom.all("a", href=EVIL_PAGE)] == [EVIL]
    assert dom.all("script") == []


def test_a_model_page_in_chromium_shows_the_machines_in_its_url(chromium, site, tmp_path):
    url = (site / "model-mnist-cnn.html").as_uri() + "#machines=vm"
    dom = Tree(browse(chromium, tmp_path, url, "--dump-dom"))
    boxes = {box.attrs["value"]: box.attrs["data-cls"] for box in dom.all("input") if "machine" in box.classes}
    assert sorted(boxes) == ["h100", "vm"]
    assert dom.all("body")[0].attrs.get("data-shown-machines") == "vm"  # the script ran
    hidden = [e for e in dom.elements if boxes["h100"] in e.classes]
    shown = [e for e in dom.elements if boxes["vm"] in e.classes]
    assert len(hidden) >= 4 and all("off" in e.classes for e in hidden)  # charts' groups and the environments
    assert shown and not any("off" in e.classes for e in shown)
    charts = dom.all("svg")
    assert len(charts) == 1 + len(CASES)
    assert any(RATIO in text.text for text in dom.all("text"))
    points = [a for a in dom.all("a") if a.attrs.get("href") == COMMIT_URL.format(commit=commit(5))]
    assert len(points) >= 2 * (1 + len(CASES))  # one per machine and chart (and the change table's)


def test_the_page_of_a_model_named_with_a_script_tag_runs_only_its_own_script(chromium, site, tmp_path):
    dom = Tree(browse(chromium, tmp_path, (site / EVIL_PAGE).as_uri(), "--dump-dom"))
    assert len(dom.all("script")) == 1
    assert dom.all("h1")[0].text == EVIL
    assert dom.all("body")[0].attrs.get("data-shown-machines") == "h100,vm"


def test_a_screenshot_of_a_model_page(chromium, site, tmp_path):
    png = tmp_path / "model-mnist-cnn.png"
    browse(chromium, tmp_path, (site / "model-mnist-cnn.html").as_uri(), f"--screenshot={png}",
           "--window-size=1280,1600", "--hide-scrollbars")
    print(f"screenshot: {png}")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
