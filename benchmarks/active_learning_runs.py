"""The active-learning simulation behind nbs/92_active_learning (cpu profile, one thread); the notebook reads its output.

    PYTHONPATH=. python benchmarks/active_learning_runs.py            # -> results/active/runs/*.json

A simulated annotator labels distinct Taobao training titles (their gold tags stand in for the annotator's): 25 random
titles, then at each checkpoint (25 ... 3,000 titles) the crfsuite CRF (100 L-BFGS iterations, as the crf recipe in
the cpu profile) is trained on what is annotated, scored on dev_clean and test_clean, and picks the next batch:
the titles it is least sure of (least confidence, the studio's queue order; total token entropy as a second measure,
compared on dev_clean), the next titles of a random order, or random titles up to 300 and then the least confident
ones ('random-first', its switch point chosen on dev_clean). Seeds 0, 1, 2 (same seed set for both strategies), and
the same CRF trained on every distinct training title as the line to reach. Each checkpoint is saved as it finishes,
so a killed run continues where it stopped. Timings are taken on a shared 2-core machine.
"""
from __future__ import annotations

import sys
import time

import torch

from prodtags.active import simulate_all

OUT = "results/active/runs"   # a `runs` folder: the leaderboard, which reads results/**/*.json, skips it


if __name__ == "__main__":
    torch.set_num_threads(1)   # crfsuite is single-threaded; keep torch from taking the shared cores too
    t0 = time.perf_counter()
    runs = simulate_all(OUT, "cpu", measures=("least-confidence", "token-entropy"), progress=True)
    full = runs["full.json"]["scores"]["test_clean"]["overall"]["f1"]
    print(f"{len(runs)} runs in {time.perf_counter() - t0:.0f} s; full-data test_clean F1 {100 * full:.1f}", file=sys.stderr)
