"""Hugging Face Trainer against the prodtags loop: the same model, the same Taobao titles, one process, one run.

    python benchmarks/trainer_vs_loop.py [--batch-sizes 32 64] [--titles 1024] [--out results/performance]

The model is a BERT token classifier with a character vocabulary (Chinese BERTs tokenise Chinese one character at a
time): on CPU a small one (4 layers, width 256), on CUDA the BERT-base shape (12 layers, width 768, vocabulary
21,128), randomly initialised: throughput does not depend on the weights. Each trainer runs one warm-up pass over
the titles (compilation, allocator) and then a timed pass. Printed and written as a results record: sequences/s,
useful (non-pad) tokens/s, peak memory, and model-FLOPs utilisation against a matrix-multiply peak measured here,
as ratios to Trainer. Needs `pip install "prodtags[bert]" accelerate psutil` (Trainer needs accelerate). A benchmark,
not a test: the numbers describe this machine and what else ran on it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import torch

from prodtags.core import write_json
from prodtags.data import TAOBAO_TYPES, TagSet, Vocab, encode_titles, load_taobao, make_loader, pad_batch
from prodtags.loop import TrainConfig, fit

SHAPES = {"cpu": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024),
          "cuda": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)}
VOCAB_SIZE, MAX_LEN = 21_128, 128


class PeakMemory:
    "Peak GPU memory allocated (CUDA), or peak resident memory of this process sampled every 5 ms (CPU), in MiB."
    def __init__(self, device: torch.device): self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        else:
            import psutil
            self.proc, self.peak, self.stop = psutil.Process(), 0, threading.Event()
            def sample():
                while not self.stop.is_set(): self.peak = max(self.peak, self.proc.memory_info().rss); time.sleep(0.005)
            self.thread = threading.Thread(target=sample, daemon=True); self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda": self.mib = torch.cuda.max_memory_allocated() / 2**20
        else: self.stop.set(); self.thread.join(); self.mib = self.peak / 2**20


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: torch.dtype, seconds: float = 3.0) -> float:
    "FLOP/s of a large square matrix multiply, measured now: the ceiling MFU is reported against."
    n = 8192 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3): a @ b
    sync(device); t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds: a @ b; k += 1; sync(device) if k % 10 == 0 else None
    sync(device)
    return 2 * n ** 3 * k / (time.perf_counter() - t0)


def build_model(device: torch.device, seed: int = 0):
    from transformers import BertConfig, BertForTokenClassification
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=VOCAB_SIZE, max_position_embeddings=512, num_labels=len(TagSet(TAOBAO_TYPES)),
                        **SHAPES[device.type])
    return BertForTokenClassification(config).to(device)


def model_flops(model, lengths) -> float:
    "Training FLOPs of one batch: 6 per parameter per token (embeddings excluded) + attention, 12 L d T per token."
    cfg = model.config
    n = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    return sum(6 * n * t + 12 * cfg.num_hidden_layers * cfg.hidden_size * t * t for t in lengths)


class Counting:
    "A collate function that also records each batch's real lengths and padded width."
    def __init__(self, collate): self.collate, self.lengths, self.padded = collate, [], 0

    def __call__(self, items):
        batch = self.collate(items)
        mask = batch["attention_mask"]
        self.lengths += mask.sum(1).tolist(); self.padded += mask.numel()
        return batch


def run_trainer(model, items, batch_size, device, grouped=False, compile=False) -> dict:
    "Hugging Face Trainer with its token-classification collator (dynamic padding, random batches by default)."
    from tokenizers import Tokenizer, models
    from transformers import DataCollatorForTokenClassification, PreTrainedTokenizerFast, Trainer, TrainingArguments, TrainerCallback
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1}, unk_token="[UNK]")),
                                  pad_token="[PAD]", unk_token="[UNK]")
    data = [{"input_ids": it["input_ids"], "labels": it["labels"], "length": len(it["input_ids"])} for it in items]
    counter = Counting(DataCollatorForTokenClassification(tok, return_tensors="pt"))
    marks = {}
    class Clock(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kw):
            sync(device); marks.setdefault("epochs", []).append((time.perf_counter(), len(counter.lengths), counter.padded))
        def on_train_end(self, args, state, control, **kw):
            sync(device); marks["end"] = (time.perf_counter(), len(counter.lengths), counter.padded)
    out = tempfile.mkdtemp(prefix="trainer-bench-")
    args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch_size, num_train_epochs=2,
                             learning_rate=5e-5, weight_decay=0.01, warmup_steps=0.1, max_grad_norm=1.0,
                             bf16=device.type == "cuda", torch_compile=compile, report_to=[], save_strategy="no",
                             logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0, seed=0,
                             train_sampling_strategy="group_by_length" if grouped else "random",
                             use_cpu=device.type == "cpu")
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=counter, callbacks=[Clock()])
    with PeakMemory(device) as mem: trainer.train()
    (t1, n1, p1), (t2, n2, p2) = marks["epochs"][1], marks["end"]   # the second epoch: warm
    return timed(model, counter.lengths[n1:n2], p2 - p1, t2 - t1, mem.mib)


def run_loop(model, items, batch_size, device, compile=False, precision="auto") -> dict:
    "The prodtags loop: length-bucketed batches, dynamic padding, bf16 autocast on CUDA, fused AdamW, optional compile."
    from prodtags.bert_ner import TokenClassifier
    loader = make_loader(items, batch_size, shuffle=True, seed=0)
    counter = Counting(loader.collate_fn)
    loader = torch.utils.data.DataLoader(loader.dataset, batch_sampler=loader.batch_sampler, collate_fn=counter,
                                         pin_memory=device.type == "cuda")
    config = TrainConfig(epochs=2, lr=5e-5, warmup_ratio=0.1, fused_adamw=True, compile=compile, precision=precision,
                         monitor="train_loss", mode="min", patience=2)
    with PeakMemory(device) as mem:
        state = fit(TokenClassifier(model), loader, config, device=device, progress=False)
    n_epoch = len(counter.lengths) // 2
    seconds = state["history"][1]["train_seconds"]   # the second epoch: warm
    return timed(model, counter.lengths[n_epoch:], counter.padded // 2, seconds, mem.mib)


def timed(model, lengths, padded, seconds, mib) -> dict:
    return {"sequences_per_s": len(lengths) / seconds, "useful_tokens_per_s": sum(lengths) / seconds,
            "padding_share": 1 - sum(lengths) / padded, "flops_per_s": model_flops(model, lengths) / seconds,
            "peak_mib": mib, "seconds": seconds, "sequences": len(lengths)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="default: 32 64 on CPU, 64 256 on CUDA")
    p.add_argument("--titles", type=int, default=None, help="training titles per pass (default: 512 on CPU, all on CUDA)")
    p.add_argument("--compile", action="store_true", help="also torch.compile both (Trainer's torch_compile=True)")
    p.add_argument("--out", default="results/performance", help="folder for the results record")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sizes = args.batch_sizes or ([64, 256] if cuda else [32, 64])
    train = load_taobao("train")[: args.titles or (None if cuda else 512)]
    vocab, tagset = Vocab.build(t.text for t in load_taobao("train")), TagSet(TAOBAO_TYPES)
    assert len(vocab) <= VOCAB_SIZE
    items = [{**it, "input_ids": it["input_ids"][:MAX_LEN], "labels": it["labels"][:MAX_LEN]}
             for it in encode_titles(train, vocab, tagset)]
    dtype = torch.bfloat16 if cuda else torch.float32
    peak = matmul_peak(device, dtype)
    load_before = os.getloadavg()
    rows = []
    name = torch.cuda.get_device_name(device) if cuda else (platform.processor() or platform.machine())
    record = {"benchmark": "trainer_vs_loop", "device": str(device), "device_name": name, "dtype": str(dtype).split(".")[1],
              "model": {**SHAPES[device.type], "vocab_size": VOCAB_SIZE}, "titles": len(items),
              "matmul_peak_tflops": peak / 1e12, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "loadavg_before": load_before, "torch": torch.__version__,
              "transformers": __import__("transformers").__version__, "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}
    path = Path(args.out) / f"trainer_vs_loop_{device.type}.json"
    variants = [("trainer", dict()), ("trainer, group_by_length", dict(grouped=True)), ("prodtags loop", dict())]
    if args.compile: variants += [("trainer + compile", dict(compile=True)), ("prodtags loop + compile", dict(compile=True))]
    for bs in sizes:
        for name, kw in variants:
            run = run_trainer if name.startswith("trainer") else run_loop
            r = run(build_model(device), items, bs, device, **kw)
            r |= {"variant": name, "batch_size": bs, "mfu": r["flops_per_s"] / peak}
            rows.append(r)
            write_json(path, {**record, "loadavg_after": os.getloadavg(), "complete": False})   # a cut-short run keeps its rows
            print(f"batch {bs:4d}  {name:26s} {r['sequences_per_s']:8.1f} seq/s {r['useful_tokens_per_s']:10.0f} tok/s "
                  f"pad {100 * r['padding_share']:4.1f}%  peak {r['peak_mib']:7.0f} MiB  MFU {100 * r['mfu']:5.1f}%", flush=True)
    for bs in sizes:
        base = next(r for r in rows if r["batch_size"] == bs and r["variant"] == "trainer")
        for r in rows:
            if r["batch_size"] == bs:
                r["speedup_vs_trainer"] = r["sequences_per_s"] / base["sequences_per_s"]
                r["memory_vs_trainer"] = r["peak_mib"] / base["peak_mib"]
        print(f"batch {bs}: " + ", ".join(f"{r['variant']} {r['speedup_vs_trainer']:.2f}x" for r in rows if r["batch_size"] == bs))
    record |= {"loadavg_after": os.getloadavg(), "complete": True}
    write_json(path, record)
    print(f"matmul peak {peak / 1e12:.2f} TFLOP/s ({record['dtype']}); load average {load_before} -> {record['loadavg_after']}; "
          f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
