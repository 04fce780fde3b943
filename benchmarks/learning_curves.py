"""Learning curves behind nbs/70_pretrained (§7): test_clean F1 against training titles, every technique on the same
seeded samples. Resumable: each point is one small JSON file under results/pretrained/curve/, skipped when present.

    nice -n 5 env PYTHONPATH=. PRODTAGS_PROFILE=cpu python benchmarks/learning_curves.py crf probe bilstm-crf e5-ner
    ... learning_curves.py sweep topk han quant      # the probe's lr x epochs sweep, top-k layers, Han splitting, Q4
    ... learning_curves.py e5-ner:300:0              # one point

Groups: crf, probe, bilstm-crf, e5-ner (curve points), sweep, topk, han, quant, earlier (short fine-tuning runs
already on record, as 'e5-ner-short' points). Models go to models/curves/ (not committed).
Timings are taken on a shared 2-core machine (1 thread); they are not benchmarks of the techniques' speed.
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


def states(char_split: bool = True) -> dict:
    "Frozen-encoder states of train, dev_clean and test_clean (computed once, then read from the cache)."
    return {s: encode_titles_frozen(load_taobao(s), char_split=char_split, name=s, progress=True)
            for s in ("train", "dev_clean", "test_clean")}


def point_file(method: str, n: int, seed: int, profile: str) -> Path:
    return OUT / "curve" / f"{method}_{profile}_n{n}_seed{seed}.json"


def leaderboard_point(method: str, n: int, seed: int, profile) -> dict | None:
    """The leaderboard's own run as the point at every title with seed 0, when it is the same experiment: bilstm-crf's
    recipe on all 6,000 titles with the profile's budget (what scratch_budget gives at 6,000), seed 0."""
    path = Path("results") / f"{method}_taobao_{profile.name}_seed{seed}.json"
    if method != "bilstm-crf" or seed != 0 or not path.is_file(): return None
    r = read_json(path)
    if r["train_titles"] != n or n != len(load_taobao("train")): return None
    return {"method": method, "titles": n, "seed": seed, "profile": profile.name, "source": str(path),
            "budget": {"epochs_run": r["epochs_run"], "best_epoch": r["best_epoch"], "lr": r["lr"]},
            "seconds": r["train_seconds"],
            "scores": {s: {t: round(v["f1"], 4) for t, v in r["scores"][s].items()} for s in ("dev_clean", "test_clean")}}


def curve(method: str, profile, order: list[tuple[int, int]] | None = None) -> None:
    grid = CurveSettings.for_profile(profile)
    st = None
    for n, seed in order or grid.points(method):
        path = point_file(method, n, seed, profile.name)
        if path.is_file(): continue
        if method.startswith("probe") and st is None: st = states(char_split=method != "probe-nosplit")
        rec = leaderboard_point(method, n, seed, profile) or run_curve_point(method, n, seed, MODELS, profile, states=st)
        write_json(path, rec)
        tc = rec["scores"]["test_clean"]["overall"]; dc = rec["scores"]["dev_clean"]["overall"]
        print(f"{method} n={n} seed={seed}: dev_clean {dc:.3f} test_clean {tc:.3f} ({rec['seconds']:.0f} s)", flush=True)


def earlier(profile) -> None:
    """Full fine-tuning points this machine already measured with short budgets, as curve points of their own method
    ('e5-ner-short'): the strategy comparison's 'all' run (300 titles, 4 epochs of batches of 8) and the leaderboard's
    e5-ner record (800 titles, 3 epochs of 16). Both drew their titles with sample_titles(train, n, 0)."""
    if profile.name != "cpu": return
    runs = read_json(OUT / "strategies_before_cpu.json")
    r = runs["runs"]["all"]
    write_json(point_file("e5-ner-short", 300, 0, "cpu"), {
        "method": "e5-ner-short", "titles": 300, "seed": 0, "profile": "cpu", "source": "strategies_before_cpu.json",
        "budget": {"epochs_run": len(r["history"]), "batch_size": runs["batch_size"], "lr": r["lr"]},
        "note": "dev_clean: best F1 on its first 100 titles", "seconds": None,
        "scores": {"dev_clean": {"overall": max(h[2] for h in r["history"])}, "test_clean": {"overall": r["test_clean_f1"]}}})
    rec = read_json(Path("results") / "e5-ner_taobao_cpu_seed0.json")
    write_json(point_file("e5-ner-short", rec["train_titles"], 0, "cpu"), {
        "method": "e5-ner-short", "titles": rec["train_titles"], "seed": 0, "profile": "cpu",
        "source": "results/e5-ner_taobao_cpu_seed0.json",
        "budget": {"epochs_run": rec["epochs_run"], "best_epoch": rec["best_epoch"], "lr": rec["lr"]},
        "seconds": rec["train_seconds"],
        "scores": {s: {t: round(v["f1"], 4) for t, v in rec["scores"][s].items()} for s in ("dev_clean", "test_clean")}})


def main(groups: list[str]) -> None:
    torch.set_num_threads(1)   # the machine is shared: one thread wastes least under contention
    profile = get_profile()
    for g in groups:
        if g in CURVE_METHODS: curve(g, profile)
        elif g == "earlier": earlier(profile)
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
