"""Learning curves behind nbs/96_fewer_labels (cpu profile, one thread); the notebook reads their output.

    PYTHONPATH=. python benchmarks/fewer_labels_runs.py          # curves -> results/challenges/fewer_labels.json.gz
    PYTHONPATH=. python benchmarks/fewer_labels_runs.py records  # the two weakly supervised leaderboard rows

The crfsuite CRF (100 L-BFGS iterations, as the crf recipe in the cpu profile) is trained on n gold titles alone,
on n gold titles plus dictionary-matched (distant) labels of a pool of other training titles, and on n gold titles
plus a gold-trained teacher's confident tags of the same pool (self-training; threshold chosen on dev_clean at
n = 300, seed 0). Gold sets drawn with seeds 0, 1, 2 up to 1,000 titles. Scores on dev_clean and test_clean. Re-running skips the runs already in the output file.
"""
from __future__ import annotations

import sys, time
from pathlib import Path

from challenges_runs import read_gz, scores, train_crf, write_gz   # the same CRF (100 iterations), scores and caches
from prodtags.data import load_taobao
from prodtags.fewer_labels import gold_and_pool, train_crf_distant, train_crf_selftrain, weak_titles
from prodtags.recipes import write_results

OUT = Path("results/challenges/fewer_labels.json.gz")
SIZES, WEAK_SIZES, POOL = (100, 300, 1000, 3000), (100, 300, 1000), 2000
SEEDS = (0, 1, 2)   # gold sets drawn with each seed, for the sizes up to 1,000 (3,000 leaves little to draw from)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def curves():
    runs = read_gz(OUT) if OUT.is_file() else {}
    def save(): write_gz(OUT, runs)
    train = load_taobao("train")
    def run(key, titles, **extra):
        if key in runs: return
        t0 = time.perf_counter()
        tagger = train_crf(titles)
        runs[key] = {"train_titles": len(titles), "seconds": round(time.perf_counter() - t0), **extra,
                     "scores": scores(tagger)}
        save(); print(key, round(100 * runs[key]["scores"]["test_clean"]["overall"]["f1"], 1), flush=True)
    for seed in SEEDS:
        tag = f"/seed{seed}" if seed else ""
        for n in sorted(SIZES, key=lambda n: n != 300):   # 300 first: it chooses the self-training threshold
            if seed and n not in WEAK_SIZES: continue
            gold, pool = gold_and_pool(train, n, POOL, seed=seed)
            run(f"supervised/{n}{tag}", gold, gold_titles=n, seed=seed)
            if n not in WEAK_SIZES: continue
            weak = weak_titles(gold, pool, "distant")
            run(f"distant/{n}{tag}", [*gold, *weak], gold_titles=n, weak_titles=len(weak), seed=seed)
            teacher = train_crf(gold)
            thresholds = THRESHOLDS if (n, seed) == (300, 0) else (runs["chosen_threshold"],)
            for thr in thresholds:
                weak = weak_titles(gold, pool, "self-training", teacher, thr)
                run(f"self-training/{n}/{thr}{tag}", [*gold, *weak], gold_titles=n, weak_titles=len(weak),
                    threshold=thr, seed=seed)
            if (n, seed) == (300, 0):
                runs["chosen_threshold"] = max(THRESHOLDS, key=lambda t: runs[f"self-training/300/{t}"]["scores"]
                                               ["dev_clean"]["overall"]["f1"])
                save()


def records():
    for fn, name in ((train_crf_distant, "crf-distant"), (train_crf_selftrain, "crf-selftrain")):
        _, rec = fn(Path("models") / name, profile="cpu", seed=0)
        print(write_results(rec, "results"), rec["supervision"], rec["scores"]["test_clean"]["overall"]["f1"])


if __name__ == "__main__":
    records() if sys.argv[1:] == ["records"] else curves()
