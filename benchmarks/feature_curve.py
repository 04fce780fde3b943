"""Learning-curve points of the feature-based taggers (nbs/72_features) beside nbs/70_pretrained's curves.

    nice -n 5 env PYTHONPATH=. PRODTAGS_PROFILE=cpu python benchmarks/feature_curve.py e5-features:300:0 bilstm-crf-lex:300:0

Each point trains on the same seeded sample as every technique of the curves (`sample_titles`), with the from-scratch
budget's epochs at that size (`scratch_budget`: at least about 600 optimiser steps), early stopping on dev_clean, and
writes `results/pretrained/curve/{method}_{profile}_n{titles}_seed{seed}.json` in the curves' format (skipped when
present). `bilstm-crf-lex` is the same BiLSTM-CRF with the lexicon and without the encoder: the same-budget baseline of
`e5-features`. Timings are taken on a shared 2-core machine; they are not benchmarks.
"""
from __future__ import annotations

import dataclasses, sys, time
from pathlib import Path

import torch

from prodtags.core import get_profile, write_json
from prodtags.data import load_span_data
from prodtags.features import FeatureSettings, train_feature_tagger
from prodtags.pretrained import sample_span_data, scratch_budget

OUT, MODELS = Path("results/pretrained/curve"), Path("models/curves")


def point(method: str, n: int, seed: int, profile) -> dict:
    sample = sample_span_data(n, seed)
    budget = scratch_budget(n, seed, profile)
    base = FeatureSettings.for_profile(profile)
    epochs = max(base.epochs, budget.epochs)   # never fewer than the full-data recipe runs
    settings = dataclasses.replace(base, epochs=epochs, patience=max(base.patience, budget.patience))
    t0 = time.perf_counter()
    _, r = train_feature_tagger(MODELS / f"{method}_n{n}_seed{seed}", profile, seed, progress=False, data=sample,
                                encoder=method == "e5-features", technique=method, settings=settings)
    return {"method": method, "titles": n, "seed": seed, "profile": profile.name,
            "budget": {"epochs": epochs, "patience": settings.patience, "epochs_run": r.get("epochs_run"),
                       "best_epoch": r.get("best_epoch"), "batch_size": settings.batch_size, "lr": settings.lr},
            "seconds": round(time.perf_counter() - t0, 1),
            "scores": {s: {t: round(v["f1"], 4) for t, v in r["scores"][s].items()} for s in ("dev_clean", "test_clean")}}


def from_record(method: str, n: int, seed: int, profile) -> dict | None:
    "The leaderboard's own run as the point at all training titles: the same recipe, titles and budget."
    path = Path("results") / f"{method}_taobao_{profile.name}_seed{seed}.json"
    if n < len(load_span_data("taobao").train) or not path.is_file(): return None
    import json
    r = json.loads(path.read_text(encoding="utf-8"))
    return {"method": method, "titles": n, "seed": seed, "profile": profile.name, "source": path.name,
            "budget": {k: r.get(k) for k in ("epochs_run", "best_epoch")}, "seconds": r.get("train_seconds"),
            "scores": {s: {t: round(v["f1"], 4) for t, v in r["scores"][s].items()} for s in ("dev_clean", "test_clean")}}


def main(specs: list[str]) -> None:
    profile = get_profile()
    for spec in specs:
        method, n, seed = spec.split(":")
        path = OUT / f"{method}_{profile.name}_n{n}_seed{seed}.json"
        if path.is_file(): continue
        rec = from_record(method, int(n), int(seed), profile) or point(method, int(n), int(seed), profile)
        write_json(path, rec)
        print(path.name, rec["scores"]["test_clean"]["overall"], rec["seconds"], "s", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(sys.argv[1:])
