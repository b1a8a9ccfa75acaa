"""The end-of-run summary: the server table (one row per level, the generator's mark, the search's answer), the
figures' spread and efficiency, and Keras' per-call floor."""

import numpy as np
from tests_support import server_result

from bench.output.summary import summary_lines
from bench.results import CaseResult


def test_server_rows_get_their_own_table_with_marks_and_messages():
    rows = [server_result("cpu", 100.0, 5.0)[0], server_result("cpu", 400.0, 12.0, late_s=0.005)[0],
            server_result("cpu", 350.0, 15.0, 20.0)[0], server_result("gpu:0", 50.0, 30.0, 20.0)[0],
            CaseResult(device="gpu:1", model="mnist_cnn", mode="infer", batch_size=8, precision="float32",
                       status="skipped", message="gpu:1 not present")]
    lines = summary_lines(rows)
    assert lines[0].split() == ["model", "device", "load", "offered", "qps", "achieved", "qps", "queries", "p50", "ms",
                                "p99", "ms", "mean", "batch", "late", "p99", "ms", "max", "qps", "status"]
    assert lines[1].split()[:5] == ["mnist_cnn", "cpu", "100", "qps", "100.0"] and lines[1].endswith("ok")
    assert lines[2].endswith("ok, generator late") and lines[3].split()[-2:] == ["350.0", "ok"]
    assert lines[4].split()[-2:] == ["-", "over_bound"]  # no load within the bound: no answer
    assert "mnist_cnn cpu 400 qps: ok: generator late: its p99 lateness (5 ms)" in lines[5]
    assert lines[6].startswith("mnist_cnn cpu p99<=20 ms: ok: p99 within 20 ms on 400 queries; probes (qps): 350 within")
    assert lines[7].startswith("mnist_cnn gpu:0 p99<=20 ms: over_bound: no load met p99 <= 20 ms")
    assert "skipped (1 case): gpu:1 not present" in lines


def batch_row(device, rounds_ms, *, peak=None, model="mnist_cnn", mode="infer"):
    row = CaseResult(device=device, model=model, mode=mode, batch_size=1, precision="float32", status="ok",
                     flops_per_sample=1e6).with_latency([ms / 1e3 for ms in rounds_ms])
    return row.with_peak(peak) if peak else row


def test_each_figure_says_how_far_to_trust_it_and_what_share_of_the_peak_it_reached():
    steady, noisy = [10.0] * 41, list(np.linspace(5.0, 15.0, 41))  # IQRs: 0, and 7.5 to 12.5 ms around 10
    lines = summary_lines([batch_row("cpu", steady, peak=1.0), batch_row("gpu:0", noisy)])
    header = lines[0].replace(" ms", "_ms").split()
    cells = [dict(zip(header, line.split())) for line in lines[1:3]]
    assert [row["spread"] for row in cells] == ["0.0%", "50%"]
    assert [row["eff"] for row in cells] == ["10%", "-"]  # 1 MFLOP in 10 ms: 0.1 of a 1 GFLOP/s peak; no peak
    assert lines[3].startswith("spread: the middle half of the rounds (IQR) as a % of the median")


def test_the_per_call_floor_is_infer_less_forward_at_batch_1_and_none_where_forward_was_not_faster():
    rows = [batch_row("cpu", [4.0] * 9), batch_row("cpu", [3.0] * 9, mode="forward"),
            batch_row("cpu", [70.0] * 9, model="imdb_lstm"), batch_row("cpu", [72.0] * 9, model="imdb_lstm",
                                                                        mode="forward"),
            batch_row("gpu:0", [5.0] * 9)]  # no forward row on the GPU: no floor claimed there
    (floor,) = [line for line in summary_lines(rows) if line.startswith("per-call floor")]
    assert floor == ("per-call floor (infer - forward medians, batch 1): mnist_cnn cpu 1 ms (25% of infer); "
                     "imdb_lstm cpu none (forward not faster)")
