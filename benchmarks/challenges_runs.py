"""Heavy runs behind nbs/95_challenges (cpu profile, one thread): their outputs are JSON files the notebook reads.

    PYTHONPATH=. python benchmarks/challenges_runs.py predict   # leaderboard taggers' tags on the eval splits
    PYTHONPATH=. python benchmarks/challenges_runs.py noise     # 5-fold CRF label-noise finder and its effect

Taggers come from models/<name>/tagger in this checkout (trained with `prodtags train NAME --out models/NAME`) or,
for char-bilstm, from the main checkout's models folder when PRODTAGS_MODELS_EXTRA names it. Outputs go to
results/challenges/ (tags as .json.gz, so that the leaderboard, which reads results/**/*.json, skips them).
"""
from __future__ import annotations

import gzip, json, os, sys, tempfile, time
from pathlib import Path

import torch

from prodtags.challenges import NOISE_KINDS, apply_flags, flag_label_noise, kfold_predict
from prodtags.data import load_taobao
from prodtags.rnn import CRFSuiteTagger
from prodtags.taggers import load_tagger

OUT = Path("results/challenges")
SPLITS = ("dev_clean", "test", "test_clean")
TAGGERS = ("crf", "char-bilstm", "bilstm-crf", "opentag", "transformer", "e5-ner")
CRF_ITERATIONS = 100   # as the crf recipe in the cpu profile (5 x 20 epochs)
NOISE_THRESHOLD = 0.9


def write_gz(path: Path, obj) -> None:
    "JSON, gzipped (the leaderboard reads results/**/*.json, so caches of tags are kept as .json.gz)."
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:   # mtime 0: same tags, same bytes
        gz.write(json.dumps(obj, ensure_ascii=False).encode("utf-8"))


def read_gz(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f: return json.load(f)


def tagger_dir(name: str) -> Path | None:
    for root in [Path("models"), *(Path(p) for p in os.environ.get("PRODTAGS_MODELS_EXTRA", "").split(":") if p)]:
        if (root / name / "tagger" / "config.json").is_file(): return root / name / "tagger"
    return None


def predict():
    OUT.mkdir(parents=True, exist_ok=True)
    for name in TAGGERS:
        folder = tagger_dir(name)
        if folder is None: print(f"{name}: no trained tagger, skipped"); continue
        tagger = load_tagger(folder, device="cpu")
        rec = {"tagger": name, "profile": "cpu", "seed": 0, "tags": {}}
        for split in SPLITS:
            tags, _ = tagger.predict_tags([t.text for t in load_taobao(split)])
            rec["tags"][split] = tags
        write_gz(OUT / f"pred_{name}.json.gz", rec)
        print(f"{name}: tagged {', '.join(SPLITS)}", flush=True)


def train_crf(titles):
    with tempfile.TemporaryDirectory() as tmp:
        return CRFSuiteTagger.train(titles, max_iterations=CRF_ITERATIONS, model_path=Path(tmp) / "m.crfsuite")


def scores(tagger):
    "Entity scores on dev_clean (for choosing) and test_clean (for reporting): the tagger's own `evaluate`."
    return {split: tagger.evaluate(load_taobao(split)) for split in ("dev_clean", "test_clean")}


def noise():
    OUT.mkdir(parents=True, exist_ok=True)
    train = load_taobao("train")
    oof = OUT / "oof_crf.json.gz"
    t0 = time.perf_counter()
    if not oof.is_file():
        tags, confs = kfold_predict(train, train_crf, k=5, seed=0, progress=True)
        write_gz(oof, {"k": 5, "seed": 0, "iterations": CRF_ITERATIONS, "tags": tags,
                       "confs": [[round(c, 3) for c in cs] for cs in confs], "seconds": round(time.perf_counter() - t0)})
    d = read_gz(oof)
    flags = flag_label_noise(train, d["tags"], d["confs"], NOISE_THRESHOLD)
    effect = {"threshold": NOISE_THRESHOLD, "flags": len(flags), "runs": {}}
    effect_file = OUT / "noise_effect.json"
    if effect_file.is_file(): effect = json.loads(effect_file.read_text(encoding="utf-8"))
    precise = ("missing", "wrong type")   # the kinds the hand-check found mostly right
    modes = {"baseline": None, "drop": ("drop", NOISE_KINDS), "fix": ("fix", NOISE_KINDS),
             "drop missing+type": ("drop", precise), "fix missing+type": ("fix", precise)}
    for mode, how in modes.items():
        if mode in effect["runs"]: continue
        titles = train if how is None else apply_flags(train, flags, how[0], kinds=how[1])
        t0 = time.perf_counter()
        tagger = train_crf(titles)
        effect["runs"][mode] = {"train_titles": len(titles), "seconds": round(time.perf_counter() - t0),
                                "scores": scores(tagger)}
        effect_file.write_text(json.dumps(effect, indent=1), encoding="utf-8")
        print(mode, effect["runs"][mode]["scores"]["test_clean"]["overall"]["f1"], flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"predict": predict, "noise": noise}[sys.argv[1]]()
