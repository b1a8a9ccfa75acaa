"""The forward/infer table of docs/measurements-forward.md from the runs in this folder (or those given):
each case's forward and infer medians, their ratio, the range of the ratio of the two modes' medians within
each pass (the cases of one pass ran minutes apart at most), and the per-call floor at batch 1.

    python results/reference/vm-2core/forward_table.py [RUN.samples.csv ...]
"""

import sys
from pathlib import Path

import pandas as pd

paths = sys.argv[1:] or sorted(str(p) for p in Path(__file__).parent.glob("*.samples.csv"))
print("| backend | model | batch | forward ms (rounds) | infer ms (rounds) | forward / infer | per pass | per-call floor |")
print("|---|---|---|---|---|---|---|---|")
for path in paths:
    samples = pd.read_csv(path)
    for (backend, model, batch), case in samples.groupby(["backend", "model", "batch_size"], sort=False):
        forward, infer = (case[case["mode"] == mode] for mode in ("forward", "infer"))
        f_ms, i_ms = forward["seconds"].median() * 1e3, infer["seconds"].median() * 1e3
        per_pass = [forward[forward["pass"] == n]["seconds"].median() / infer[infer["pass"] == n]["seconds"].median()
                    for n in sorted(set(forward["pass"]) & set(infer["pass"]))]
        floor = f"{i_ms - f_ms:.3g} ms ({(i_ms - f_ms) / i_ms:.0%})" if batch == 1 else ""
        shown = lambda ms: f"{ms:.3g}" if ms < 1000 else f"{ms:.0f}"
        print(f"| {backend} | {model} | {batch} | {shown(f_ms)} ({len(forward)}) | {shown(i_ms)} ({len(infer)}) | "
              f"{f_ms / i_ms:.3f} | {min(per_pass):.2f}-{max(per_pass):.2f} | {floor} |")
