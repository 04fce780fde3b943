"""Lexicon ablation of the crfsuite CRF (cpu profile, one thread, shared 2-core machine): every source on and off,
and the gazetteer with and without leaving each training title's own tags out. Writes
results/lexicon/crf_ablation.json (scores per split and type, train seconds); the best variant by dev_clean is the
`crf-lex` recipe, written as a leaderboard record by `prodtags train crf-lex`.

    PRODTAGS_DATA=... nice -n 5 python benchmarks/lexicon_runs.py [--profile cpu]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from prodtags.core import write_json
from prodtags.lexicon import train_crf_lexicon

VARIANTS = {   # name -> (sources, leave_out)
    "jieba+gazetteer": (("jieba", "gazetteer"), True),
    "jieba": (("jieba",), True),
    "gazetteer": (("gazetteer",), True),
    "jieba+gazetteer, own tags kept": (("jieba", "gazetteer"), False),
}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--out", default="results/lexicon/crf_ablation.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = {}
    for name, (sources, leave_out) in VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            _, r = train_crf_lexicon(Path(tmp) / "run", args.profile, sources=sources, leave_out=leave_out,
                                     progress=True)
        rows[name] = {"sources": list(sources), "leave_out": leave_out, "train_seconds": r["train_seconds"],
                      "scores": r["scores"], "cpu_latency": r["cpu_latency"]}
        print(name, {s: round(100 * r["scores"][s]["overall"]["f1"], 1) for s in ("dev_clean", "test_clean")}, flush=True)
        write_json(args.out, {"profile": args.profile, "device": "cpu", "threads": 1, "model": "crfsuite CRF",
                              "note": "shared 2-core machine", "variants": rows})

if __name__ == "__main__":
    main()
