"""Learning curves behind nbs/70_pretrained (§7): test_clean F1 against training titles, every technique on the same
seeded samples. Resumable: each point is one small JSON file under results/pretrained/curve/, skipped when present.

    nice -n 5 env PYTHONPATH=. PRODTAGS_PROFILE=cpu python benchmarks/learning_curves.py crf probe bilstm-crf e5-ner
    ... learning_curves.py sweep topk han quant      # the probe's lr x epochs sweep, top-k layers, Han splitting, Q4
    ... learning_curves.py e5-ner:300:0              # one point

Groups: crf, probe, bilstm-crf, e5-ner (curve points), sweep, topk, han. Models go to models/curves/ (not committed).
Timings are taken on a shared 2-core machine (2 threads); they are not benchmarks of the techniques' speed.
"""
from __future__ import annotations

import sys, time
from pathlib import Path

import torch

from prodtags.core import get_profile, read_json, write_json
from prodtags.data import load_taobao
from prodtags.pretrained import CURVE_METHODS, CurveSettings, encode_titles_frozen, run_curve_point

OUT = Path("results/pretrained")
MODELS = Path("models/curves")


def states() -> dict:
    "Frozen-encoder states of train, dev_clean and test_clean (computed once, then read from the cache)."
    return {s: encode_titles_frozen(load_taobao(s), name=s, progress=True)
            for s in ("train", "dev_clean", "test_clean")}


def point_file(method: str, n: int, seed: int, profile: str) -> Path:
    return OUT / "curve" / f"{method}_{profile}_n{n}_seed{seed}.json"


def curve(method: str, profile, order: list[tuple[int, int]] | None = None) -> None:
    grid = CurveSettings.for_profile(profile)
    st = states() if method == "probe" else None
    for n, seed in order or grid.points(method):
        path = point_file(method, n, seed, profile.name)
        if path.is_file(): continue
        rec = run_curve_point(method, n, seed, MODELS, profile, states=st)
        write_json(path, rec)
        tc = rec["scores"]["test_clean"]["overall"]; dc = rec["scores"]["dev_clean"]["overall"]
        print(f"{method} n={n} seed={seed}: dev_clean {dc:.3f} test_clean {tc:.3f} ({rec['seconds']:.0f} s)", flush=True)


def main(groups: list[str]) -> None:
    torch.set_num_threads(2)
    profile = get_profile()
    for g in groups:
        if g in CURVE_METHODS: curve(g, profile)
        elif g.count(":") == 2:   # one point, e.g. e5-ner:300:0
            method, n, seed = g.split(":"); curve(method, profile, [(int(n), int(seed))])
        elif g in ("sweep", "topk", "han", "quant"):
            from prodtags.pretrained import probe_extras
            path = OUT / f"{g}_{profile.name}.json"
            done = read_json(path) if path.is_file() else {}
            st = states()
            write_json(path, probe_extras(g, profile, st, done, lambda d: write_json(path, d)))
        else:
            sys.exit(f"Unknown group {g!r}: use {', '.join(CURVE_METHODS)}, sweep, topk, han or quant.")


if __name__ == "__main__":
    main(sys.argv[1:] or list(CURVE_METHODS))
