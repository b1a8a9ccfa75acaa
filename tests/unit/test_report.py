"""The report (`python -m bench report`): every file, the plotted data (through matplotlib's objects), bad input."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from tests_support import make_run, make_server_run
from tests_support import run_cli as run_subcommand

from bench.output import plots, report

matplotlib.use("Agg")

CASES = [(model, mode, batch) for model in ("mnist_cnn", "imdb_lstm") for mode in ("infer", "train")
         for batch in (1, 8, 32)]


@pytest.fixture
def gpu_run(tmp_path):
    return make_run(tmp_path / "runs", "20260101T000000Z", cases=CASES, gpu_speedup=4.0, flops=2e6)


def run_cli(*args):
    return run_subcommand("report", *args)


def test_report_writes_every_file(tmp_path, gpu_run):
    code, out, _ = run_cli(gpu_run, "--out", tmp_path / "report")
    assert code == 0 and out.strip() == f"report: {tmp_path / 'report' / 'report.html'}"
    names = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert names == ["efficiency.png", "latency_batch1.png", "report.html", "report.md", "speedup_1.png",
                     "speedup_2.png", "throughput_infer.png", "throughput_train.png"]
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 6 and "Fake GPU" in page
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "![Throughput against batch size, infer](throughput_infer.png)" in markdown


def test_throughput_lines_carry_the_measured_data(gpu_run):
    cases, _, _ = report.load([str(gpu_run)])
    fig = plots.plot_throughput(cases, "infer")
    ax = next(ax for ax in fig.axes if ax.get_title() == "mnist_cnn")
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(), ax.get_yscale()) == (
        "batch size", "samples/s", "log", "log")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"cpu tensorflow float32", "gpu:0 tensorflow float32"}
    expected = cases.query("model == 'mnist_cnn' and mode == 'infer' and device == 'cpu'").sort_values("batch_size")
    np.testing.assert_allclose(lines["cpu tensorflow float32"].get_xdata(), [1, 8, 32])
    np.testing.assert_allclose(lines["cpu tensorflow float32"].get_ydata(), expected["samples_per_s"])
    assert fig.get_suptitle() == "Throughput, infer (higher is better)"


def test_efficiency_is_gflops_over_each_devices_own_peak(gpu_run):
    cases, _, _ = report.load([str(gpu_run)])
    table = plots.efficiency(cases)
    assert set(table["device"]) == {"cpu", "gpu:0"}
    np.testing.assert_allclose(table["efficiency"], table["gflops_per_s"] / table["peak_gflops"])
    fig = plots.plot_efficiency(cases)
    infer = next(ax for ax in fig.axes if ax.get_title() == "infer")
    line = next(line for line in infer.get_lines() if line.get_label() == "mnist_cnn (gpu:0 tensorflow float32)")
    rows = table.query("model == 'mnist_cnn' and mode == 'infer' and device == 'gpu:0'").sort_values("batch_size")
    np.testing.assert_allclose(line.get_ydata(), 100 * rows["efficiency"])


def test_efficiency_takes_inference_from_the_forward_rows_where_a_case_ran_both(gpu_run):
    cases, _, _ = report.load([str(gpu_run)])
    forward = cases[(cases["mode"] == "infer") & (cases["batch_size"] == 32)].assign(
        mode="forward", efficiency=lambda f: 2 * f["efficiency"])
    table = plots.efficiency(pd.concat([cases, forward], ignore_index=True))
    infer = table[table["mode"] == "infer"]
    assert len(table[table["mode"] == "forward"]) == len(forward) > 0
    assert len(infer) > 0 and (infer["batch_size"] != 32).all()  # infer only where no forward ran
    fig = plots.plot_efficiency(pd.concat([cases, forward], ignore_index=True))
    assert "the forward rows" in fig.get_suptitle()


def test_speedup_heatmap_annotates_the_ratios(gpu_run):
    cases, _, _ = report.load([str(gpu_run)])
    (title, table), _ = plots.speedups(cases)
    assert title == "gpu:0 (Fake GPU) over cpu, tensorflow, infer"
    assert list(table.columns) == [1, 8, 32] and list(table.index) == ["imdb_lstm", "mnist_cnn"]
    assert table.to_numpy() == pytest.approx(4.0, rel=0.05)
    fig = plots.plot_speedup(title, table)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 6 and all(t.endswith("x") and 3.8 < float(t[:-1]) < 4.2 for t in texts)


@pytest.mark.parametrize("rounds,has_p90,has_p99", [(300, True, True), (30, True, False), (20, False, False)])
def test_latency_percentiles_come_from_the_samples_where_they_support_them(tmp_path, rounds, has_p90, has_p99):
    run = make_run(tmp_path, "20260101T000000Z", cases=CASES, rounds=rounds)
    cases, samples, _ = report.load([str(run)])
    table = plots.latency_percentiles(cases, samples)
    row = table[(table["model"] == "mnist_cnn") & (table["series"] == "cpu tensorflow float32")].iloc[0]
    mask = (samples["model"] == "mnist_cnn") & (samples["mode"] == "infer") & (samples["batch_size"] == 1) & (
        samples["device"] == "cpu")
    ms = samples.loc[mask, "seconds"] * 1e3
    assert len(ms) == rounds and row["p50"] == pytest.approx(np.median(ms))
    assert (row["p90"] == pytest.approx(np.percentile(ms, 90))) if has_p90 else np.isnan(row["p90"])
    assert (row["p99"] == pytest.approx(np.percentile(ms, 99))) if has_p99 else np.isnan(row["p99"])
    plots.plot_latency(cases, samples)  # an empty bar is drawn as none, not as an error


def test_several_hosts_are_told_apart(tmp_path):
    laptop = make_run(tmp_path / "a", "20260101T000000Z", host="laptop", cases=CASES)
    cloud = make_run(tmp_path / "b", "20260101T000000Z", host="cloud", cases=CASES, gpu_speedup=10.0)
    cases, _, _ = report.load([str(laptop), str(cloud)])
    assert set(plots.series_label(cases)) == {"laptop cpu tensorflow float32", "cloud cpu tensorflow float32",
                                              "cloud gpu:0 tensorflow float32"}
    hosts = report.run_table(cases)
    assert list(hosts["host"]) == ["cloud", "laptop"] and list(hosts["GPUs used"]) == ["Fake GPU", "none"]


def bad_inputs(tmp_path, gpu_run):
    skipped = tmp_path / "skipped.csv"
    pd.read_csv(gpu_run).assign(status="skipped").to_csv(skipped, index=False)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "a_file").write_text("")
    return [
        ((skipped,), "skipped.csv: no case with status ok"),
        ((binary,), "binary.csv: not a CSV file"),
        ((tmp_path / "absent.csv",), "absent.csv: no such file or directory"),
        ((tmp_path / "empty_dir",), "empty_dir: no run files"),
        ((gpu_run, "--out", tmp_path / "a_file"), "--out: "),
    ]


def test_bad_input_is_one_line_exit_2_and_no_report(tmp_path, gpu_run):
    for args, message in bad_inputs(tmp_path, gpu_run):
        out_dir = tmp_path / "out"
        arguments = args if "--out" in args else (*args, "--out", out_dir)
        code, out, err = run_cli(*arguments)
        assert code == 2 and out == "", (args, out, err)
        assert len(err.strip().splitlines()) == 1 and message in err, (args, err)
        assert not out_dir.exists() or not any(out_dir.iterdir())


def test_a_failure_midway_leaves_no_report_behind(tmp_path, gpu_run, monkeypatch):
    def broken(*_):
        raise OSError("disk full")

    monkeypatch.setattr(report, "_html", broken)
    with pytest.raises(OSError, match="disk full"):
        report.write_report([str(gpu_run)], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # the folder it made is gone too
    (tmp_path / "mine").mkdir()
    with pytest.raises(OSError, match="disk full"):
        report.write_report([str(gpu_run)], tmp_path / "mine")
    assert list((tmp_path / "mine").iterdir()) == []  # a folder that was there stays, empty as it was


def test_a_new_report_leaves_no_plot_of_an_earlier_one(tmp_path, gpu_run):
    out = tmp_path / "report"
    assert run_cli(gpu_run, "--out", out)[0] == 0
    served = make_server_run(tmp_path / "served", "20260101T000000Z", [("cpu", 100.0, 5.0, None, 0.0)])
    assert run_cli(served, "--out", out)[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.md", "serving.png"]


def test_scaling_plot_from_replica_rows(tmp_path):
    from bench.analysis.scaling import fill_scaling_efficiency
    from bench.results import CaseResult
    from bench.store import write_run

    rows = [CaseResult(device="cpu", device_name="logical", model="mnist_cnn", params=1, mode="train",
                       batch_size=8 * n, precision="float32", jit_compile="on", status="ok", replicas=n,
                       logical_devices=True, flops_per_sample=1.0).with_latency([0.010 * (1 + 0.2 * (n - 1))] * 5)
            for n in (1, 2)]
    fill_scaling_efficiency(rows)
    fingerprint = {"run_id": "20260101T000000Z_ci_jax", "host": "ci", "backend": "jax",
                   "calibration_matmul_gflops": 100.0}
    path, _ = write_run(tmp_path, fingerprint, rows, [(r, [(1, 0.010 * (1 + 0.2 * (r.replicas - 1)))] * 5) for r in rows])
    cases, _, _ = report.load([str(path)])
    fig = plots.plot_scaling(cases)
    efficiency_ax = fig.axes[1]
    (line,) = efficiency_ax.get_lines()[:1]
    np.testing.assert_allclose(line.get_xdata(), [1, 2])
    np.testing.assert_allclose(line.get_ydata(), [100.0, 100 * 1 / 1.2])
    assert efficiency_ax.get_ylabel() == "scaling efficiency (%)"


def test_a_run_without_calibration_has_a_report_without_the_efficiency_plot(tmp_path, gpu_run):
    uncalibrated = tmp_path / "uncalibrated.csv"
    pd.read_csv(gpu_run).drop(columns=["calibration_matmul_gflops", "peak_gflops", "efficiency"]).to_csv(
        uncalibrated, index=False)
    code, _, err = run_cli(uncalibrated, "--out", tmp_path / "report")
    assert code == 0, err
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert "efficiency.png" not in names and {"speedup_1.png", "throughput_infer.png"} <= names


def test_server_rows_get_a_latency_plot_and_a_max_qps_table(tmp_path):
    runs = tmp_path / "runs"
    make_server_run(runs, "20260101T000000Z", [("cpu", 100.0, 5.0, None, 0.0), ("cpu", 400.0, 12.0, None, 0.005),
                                               ("cpu", 350.0, 15.0, 20.0, 0.0), ("gpu:0", 3000.0, 4.0, 20.0, 0.0),
                                               ("gpu:1", 50.0, 30.0, 20.0, 0.0)])
    code, _, err = run_cli(runs, "--out", tmp_path / "report")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["report.html", "report.md", "serving.png"]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| model | bound | max_batch | cpu tensorflow | gpu:0 tensorflow | gpu:1 tensorflow |" in markdown
    assert "| mnist_cnn | p99 <= 20 ms | 8 | 350 | 3,000 | none |" in markdown  # gpu:1's search found no load
    _, _, served = report.load([str(runs)])
    assert list(served["status"]) == ["ok", "ok", "ok", "ok", "over_bound"]
    figure = plots.plot_serving(served)
    cpu = next(line for line in figure.axes[0].lines if line.get_label() == "cpu tensorflow float32")  # p99, solid
    assert list(cpu.get_xdata()) == [100.0, 350.0, 400.0] and list(np.round(cpu.get_ydata(), 1)) == [5.0, 15.0, 12.0]
    marked = [text.get_text() for text in figure.axes[0].texts]
    assert sorted(marked) == ["generator late", "over_bound"]
