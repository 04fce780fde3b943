"""CPU latency of trained taggers: single-title p50/p90 and batched titles/s on the clean Taobao test titles.

    python benchmarks/latency.py models/crf models/bilstm-crf models/transformer [--threads 1] [--n-single 200]

Each argument is a tagger folder, or a training output folder holding `tagger/`; any technique (span tagger or
product classifier) loads through `load_tagger`. A script, not a test: timings depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

from prodtags.data import load_taobao
from prodtags.recipes import measure_latency
from prodtags.taggers import load_tagger


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", help="tagger folders (or training output folders with tagger/)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads while timing (default 1: one request, one core)")
    p.add_argument("--n-single", type=int, default=200, help="single-title calls to time")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)
    texts = [t.text for t in load_taobao("test_clean")]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}; {len(texts)} test_clean titles, device cpu")
    print(f"{'tagger':28}{'class':18}{'p50 ms':>8}{'p90 ms':>8}{'titles/s':>10}")
    for folder in map(Path, args.folders):
        tagger = load_tagger(folder, device="cpu")   # a tagger folder or a training output folder
        lat = measure_latency(tagger, texts, n_single=args.n_single, batch_size=args.batch_size, threads=args.threads)
        print(f"{str(folder):28}{type(tagger).__name__:18}{lat['single_p50_ms']:8.2f}{lat['single_p90_ms']:8.2f}"
              f"{lat['batch_titles_per_s']:10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
