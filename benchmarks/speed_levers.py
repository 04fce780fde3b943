"""Speed levers of training and inference, each measured on the same model and real Taobao titles.

    python benchmarks/speed_levers.py train [--titles 512] [--batch-size 32]     # training levers, one process each
    python benchmarks/speed_levers.py infer [--tagger DIR]                      # int8 and torch.compile at inference
    python benchmarks/speed_levers.py stream --model DIR [--sizes 1000000]     # catalogue-scale `prodtags tag`

`train`: the BERT token classifier of trainer_vs_loop.py (small on CPU, BERT-base shape on CUDA) trained by the
prodtags loop, one lever changed at a time, each in a fresh process so that its peak memory is its own; a warm-up
epoch, then a timed one. `infer`: the pretrained tagger (multilingual-e5-small fine-tuned by the e5-ner recipe
with a stated budget, or the one in --tagger) in float32, with its linear layers quantised to int8, and compiled:
latency and test_clean F1 side by side. `stream`: `prodtags tag --file` on a file of real titles repeated with
variations, with 1 and 2 worker processes: titles/s and peak memory. Each writes a results record under --out
with the load average beside the figures. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from trainer_vs_loop import Counting, PeakMemory, build_model  # noqa: E402

from prodtags.core import write_json
from prodtags.data import TAOBAO_TYPES, TagSet, Vocab, encode_titles, load_taobao, make_loader, pad_batch
from prodtags.loop import TrainConfig, fit

LEVERS = {  # name: (what changes, settings); the baseline is the loop's default: dynamic padding in length buckets
    "pad to 128": "every title padded to 128 positions (a tokenizer's padding='max_length')",
    "dynamic padding": "padded to the longest title of a random batch",
    "length buckets": "dynamic padding, batches of similar length (the loop's default; the baseline)",
    "bf16 autocast": "length buckets + bfloat16 autocast",
    "fused AdamW": "length buckets + one fused AdamW kernel",
    "torch.compile": "length buckets + torch.compile (compilation paid in the warm-up epoch)",
    "2 loader workers": "length buckets + 2 DataLoader worker processes (+ pinned memory on CUDA)",
    "grad accumulation 4": "length buckets, 4 micro-batches of a quarter of the batch per step",
    "activation checkpointing": "length buckets + activations recomputed in the backward pass",
}


def machine(device: torch.device) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"device": str(device), "device_name": name, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M")}


def one_lever(lever: str, titles: int, batch_size: int, device: torch.device) -> dict:
    "Train for a warm-up epoch and a timed one with `lever` changed; return throughput and peak memory."
    from prodtags.bert_ner import TokenClassifier
    train = load_taobao("train")[:titles]
    vocab, tagset = Vocab.build(t.text for t in load_taobao("train")), TagSet(TAOBAO_TYPES)
    items = [{**it, "input_ids": it["input_ids"][:128], "labels": it["labels"][:128]} for it in encode_titles(train, vocab, tagset)]
    def to_128(batch_items):
        batch = pad_batch(batch_items)
        extra = 128 - batch["input_ids"].shape[1]
        for k, fill in (("input_ids", 0), ("attention_mask", False), ("labels", -100)):
            batch[k] = torch.nn.functional.pad(batch[k], (0, extra), value=fill)
        return batch
    accum = 4 if lever == "grad accumulation 4" else 1
    loader = make_loader(items, batch_size // accum, shuffle=True, seed=0)
    if lever in ("pad to 128", "dynamic padding"): loader.batch_sampler.bucket = loader.batch_sampler.batch_size  # random batches
    counter = Counting(to_128 if lever == "pad to 128" else loader.collate_fn)
    workers = 2 if lever == "2 loader workers" else 0
    loader = torch.utils.data.DataLoader(loader.dataset, batch_sampler=loader.batch_sampler, collate_fn=counter,
                                         num_workers=workers, pin_memory=workers > 0 and device.type == "cuda")
    model = build_model(device)
    if lever == "activation checkpointing": model.gradient_checkpointing_enable()
    config = TrainConfig(epochs=2, lr=5e-5, monitor="train_loss", mode="min", patience=2, grad_accum=accum,
                         precision="bf16" if lever == "bf16 autocast" else "auto",
                         fused_adamw=True if lever == "fused AdamW" else None, compile=lever == "torch.compile")
    with PeakMemory(device) as mem:
        state = fit(TokenClassifier(model), loader, config, device=device, progress=False)
    seconds = state["history"][1]["train_seconds"]
    # With worker processes the counter runs in the workers: count the timed epoch's batches here instead.
    lengths = [len(items[i]["input_ids"]) for b in loader.batch_sampler for i in b] if workers else counter.lengths[len(counter.lengths) // 2:]
    padded = None if workers else counter.padded // 2
    return {"lever": lever, "what": LEVERS[lever], "sequences_per_s": len(lengths) / seconds,
            "useful_tokens_per_s": sum(lengths) / seconds, "padding_share": None if padded is None else 1 - sum(lengths) / padded,
            "peak_mib": mem.mib, "warmup_seconds": state["history"][0]["train_seconds"], "seconds": seconds,
            "final_train_loss": state["history"][1]["train_loss"]}


def train_levers(args, device) -> dict:
    rows, load_before = [], os.getloadavg()
    for lever in LEVERS:
        r = subprocess.run([sys.executable, __file__, "train-one", lever, "--titles", str(args.titles),
                            "--batch-size", str(args.batch_size), "--device", str(device)], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{lever}: failed\n{r.stderr[-1500:]}", flush=True); rows.append({"lever": lever, "error": r.stderr[-300:]}); continue
        row = json.loads(r.stdout.strip().splitlines()[-1]); rows.append(row)
        print(f"{lever:26s} {row['sequences_per_s']:8.1f} seq/s {row['useful_tokens_per_s']:9.0f} tok/s  peak {row['peak_mib']:7.0f} MiB"
              f"  (warm-up {row['warmup_seconds']:.1f} s)", flush=True)
    base = next(r for r in rows if r["lever"] == "length buckets")
    for r in rows:
        if "error" not in r: r["speedup"] = r["sequences_per_s"] / base["sequences_per_s"]; r["memory_ratio"] = r["peak_mib"] / base["peak_mib"]
    return {"benchmark": "speed_levers_train", **machine(device), "titles": args.titles, "batch_size": args.batch_size,
            "model": "BERT token classifier, " + ("4 layers, width 256" if device.type == "cpu" else "BERT-base shape"),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "rows": rows}


def infer_levers(args, device) -> dict:
    "fp32, dynamic int8 (linear layers) and torch.compile of the pretrained tagger: latency and test_clean F1."
    import warnings
    from prodtags.bert_ner import EncoderTagger, FinetuneSettings, train_encoder_tagger
    from prodtags.recipes import measure_latency
    from prodtags.taggers import load_tagger, tagger_folder
    budget = dict(max_train_titles=args.finetune_titles, epochs=args.finetune_epochs, monitor_titles=200,
                  eval_splits=("test_clean",))
    if args.tagger and (Path(args.tagger) / "tagger" / "config.json").is_file() or (args.tagger and (Path(args.tagger) / "config.json").is_file()):
        tagger = load_tagger(tagger_folder(args.tagger), "cpu")
    else:
        out = Path(args.tagger or "models/e5-bench")
        tagger, _ = train_encoder_tagger(out, "cpu", settings=FinetuneSettings.for_profile("cpu", **budget), progress=False)
        tagger = load_tagger(tagger_folder(out), "cpu")
    test = load_taobao("test_clean")
    texts = [t.text for t in test]
    rows, load_before = [], os.getloadavg()
    def measure(name, t):
        t0 = time.perf_counter(); f1 = t.evaluate(test)["overall"]["f1"]; eval_s = time.perf_counter() - t0
        lat = measure_latency(t, texts, n_single=args.n_single, batch_size=32, threads=1)
        rows.append({"variant": name, "test_clean_f1": f1, **lat, "first_pass_seconds": eval_s})
        print(f"{name:28s} F1 {100 * f1:5.1f}  p50 {lat['single_p50_ms']:7.1f} ms  {lat['batch_titles_per_s']:7.1f} titles/s", flush=True)
    measure("float32", tagger)
    model = tagger.model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # torch.ao.quantization: torchao's quantize_ is its successor
        from torch.ao.quantization import quantize_dynamic
        qmodel = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    measure("int8 dynamic (linear layers)", EncoderTagger(qmodel, tagger.tokenizer, tagger.tagset, tagger.max_length, "cpu"))
    compiled = EncoderTagger(model, tagger.tokenizer, tagger.tagset, tagger.max_length, "cpu")
    compiled.model.hf.forward = torch.compile(compiled.model.hf.forward, dynamic=True)
    measure("torch.compile (float32)", compiled)
    base = rows[0]
    for r in rows:
        r["f1_change_points"] = 100 * (r["test_clean_f1"] - base["test_clean_f1"])
        r["p50_speedup"] = base["single_p50_ms"] / r["single_p50_ms"]
        r["batch_speedup"] = r["batch_titles_per_s"] / base["batch_titles_per_s"]
    return {"benchmark": "speed_levers_infer", **machine(torch.device("cpu")), "tagger": repr(tagger),
            "finetune_budget": tagger.info.get("results", {}).get("train_titles") or budget,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "rows": rows}


def catalogue_file(path: Path, n: int, seed: int = 0) -> Path:
    "`n` real titles (all splits), repeated with variations: a shuffled order, a number appended or a word dropped."
    titles = [t.text for s in ("train", "dev", "test") for t in load_taobao(s)]
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            t = titles[rng.randrange(len(titles))]
            v = rng.random()
            if v < 0.3: t = f"{t} {rng.randint(1, 999)}"
            elif v < 0.5 and len(t) > 8: cut = rng.randrange(len(t) - 4); t = t[:cut] + t[cut + 2:]
            f.write(t + "\n")
    return path


def stream(args) -> dict:
    "`prodtags tag --file` over a big file with 1 and 2 workers: titles/s and peak memory of the whole command."
    rows, load_before = [], os.getloadavg()
    for n, workers in [(n, w) for n in args.sizes for w in args.workers]:
        src = catalogue_file(Path(args.scratch) / f"catalogue_{n}.txt", n)
        t0 = time.perf_counter()
        cmd = [sys.executable, "-c", "import sys; from prodtags.cli import main; sys.exit(main())", "tag", "--model", args.model, "--file", str(src), "--format", "jsonl",
               "--workers", str(workers)]
        code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=open(sys.argv[0] if False else '"
                + str(Path(args.scratch) / "tags.jsonl") + "', 'w')); "
                "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        r = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        seconds = time.perf_counter() - t0
        rc, maxrss_kib = map(int, r.stdout.split())
        lines = sum(1 for _ in open(Path(args.scratch) / "tags.jsonl", encoding="utf-8"))
        rows.append({"workers": workers, "titles": n, "lines_out": lines, "seconds": seconds, "returncode": rc,
                     "titles_per_s": n / seconds, "peak_rss_mib_largest_process": maxrss_kib / 1024})
        print(f"{n} titles, {workers} worker(s): {n / seconds:8.0f} titles/s, {seconds:.0f} s, largest process peak "
              f"{maxrss_kib / 1024:.0f} MiB, {lines} lines out (exit {rc})", flush=True)
    return {"benchmark": "catalogue_stream", **machine(torch.device("cpu")), "model": Path(args.model).name,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("train", "train-one", "infer", "stream"))
    p.add_argument("lever", nargs="?", choices=list(LEVERS))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--titles", type=int, default=None, help="train: 512 (CPU) / 4096 (CUDA)")
    p.add_argument("--batch-size", type=int, default=None, help="32 on CPU, 64 on CUDA")
    p.add_argument("--tagger", default=None, help="infer: a trained e5-ner folder (default: fine-tune one into models/e5-bench)")
    p.add_argument("--finetune-titles", type=int, default=1000)
    p.add_argument("--finetune-epochs", type=int, default=2)
    p.add_argument("--n-single", type=int, default=50)
    p.add_argument("--model", default="models/char-bilstm", help="stream: the tagger to run")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000], help="stream: file sizes (titles) to tag")
    p.add_argument("--scratch", default="/tmp")
    p.add_argument("--out", default="results/performance")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    args.batch_size = args.batch_size or (64 if device.type == "cuda" else 32)
    if args.what == "train-one":
        print(json.dumps(one_lever(args.lever, args.titles, args.batch_size, device))); return 0
    if args.what == "train":
        args.titles = args.titles or (4096 if device.type == "cuda" else 512)
        record = train_levers(args, device); name = f"speed_levers_train_{device.type}.json"
    elif args.what == "infer": record = infer_levers(args, device); name = "speed_levers_infer_cpu.json"
    else:
        record = stream(args); name = "catalogue_stream_cpu.json"
    print(f"load average {record['loadavg_before']} -> {record['loadavg_after']}; written to {write_json(Path(args.out) / name, record)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
