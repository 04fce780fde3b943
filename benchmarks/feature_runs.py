"""Runs of the feature-based tagger and its ablations (cpu profile, one thread each, shared 2-core machine).

Each run trains `train_feature_tagger` with one variant's inputs, scores every split, and keeps its per-character
predictions on dev_clean and test_clean (for the error analysis in nbs/72_features). Writes
results/features/<variant>_seed<k>.json.gz; the recipe variants also write leaderboard records
(results/<technique>_taobao_cpu_seed<k>.json).

    PRODTAGS_DATA=... nice -n 5 python benchmarks/feature_runs.py e5-features bilstm-crf-lex --seed 0
"""
from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import torch

from prodtags.core import atomic_write
from prodtags.data import load_taobao
from prodtags.features import train_feature_tagger
from prodtags.recipes import write_results

VARIANTS = {   # name -> train_feature_tagger arguments; the first two are the recipes e5-features, bilstm-crf-lex
    "e5-features": dict(),
    "bilstm-crf-lex": dict(encoder=False, technique="bilstm-crf-lex"),
    "e5-no-lexicon": dict(lexicon_sources=(), technique="e5-no-lexicon"),
    "e5-layers-2-6": dict(layers=(2, 4, 6), technique="e5-layers-2-6"),
    "e5-jieba-only": dict(lexicon_sources=("jieba",), technique="e5-jieba-only"),
    "e5-gazetteer-only": dict(lexicon_sources=("gazetteer",), technique="e5-gazetteer-only"),
    "bilstm-crf-plain": dict(encoder=False, lexicon_sources=(), technique="bilstm-crf-plain"),
}
RECIPES = ("e5-features", "bilstm-crf-lex")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("variants", nargs="+", choices=list(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--runs", default="models/feature-runs", help="training folders (resumable)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.variants:
        tagger, r = train_feature_tagger(Path(args.runs) / f"{name}-{args.profile}-seed{args.seed}", args.profile,
                                         args.seed, **VARIANTS[name])
        preds = {}
        for split in ("dev_clean", "test_clean"):
            titles = load_taobao(split)
            preds[split] = tagger.predict_tags([t.text for t in titles])[0]
        record = {k: v for k, v in r.items() if k != "history"} | {"variant": name, "history": r["history"],
                                                                    "predictions": preds}
        out = Path("results/features") / f"{name}_{args.profile}_seed{args.seed}.json.gz"
        atomic_write(out, gzip.compress(json.dumps(record, ensure_ascii=False).encode(), mtime=0))
        if name in RECIPES and args.profile != "smoke": write_results(r)
        print(name, args.seed, {s: round(100 * r["scores"][s]["overall"]["f1"], 1) for s in ("dev_clean", "test_clean")},
              "train", r.get("train_seconds"), "s, p50", r["cpu_latency"]["single_p50_ms"], "ms", flush=True)

if __name__ == "__main__":
    main()
