"""A small data-parallel training run for tests/test_distributed.py, launched by torchrun (gloo on CPU).

    torchrun --standalone --nproc-per-node 2 tests/ddp_worker.py OUT [--kill-at-step K]

Titles of one length and no dropout: the token-mean loss of a shard then weighs as it does in the whole batch, so
2 processes with batch b must end where 1 process with batch 2b ends (`train_single` below)."""
import argparse
import os
import random
import signal
import sys

import torch
from safetensors.torch import save_file
from torch import nn

from prodtags.data import TAOBAO_TYPES, TaggedTitle, TagSet, Vocab, encode_titles, make_loader
from prodtags.loop import TrainConfig, data_parallel, fit
from prodtags.taggers import TaggerModel

PER_RANK_BATCH, TITLES, LENGTH = 4, 64, 10
CONFIG = dict(epochs=3, lr=3e-2, grad_accum=2, warmup_ratio=0.2, monitor="train_loss", mode="min", patience=5)


class TinyTagger(TaggerModel):
    model_name = "tiny-test"
    kill_at_step = None          # set in the worker that is to die: SIGKILL at this forward pass

    def __init__(self, vocab_size: int, num_labels: int):
        super().__init__(vocab_size=vocab_size, num_labels=num_labels)
        self.embed = nn.Embedding(vocab_size, 16)
        self.mix = nn.Linear(16, 16)
        self.head = nn.Linear(16, num_labels)
        self.calls = 0

    def emissions(self, batch):
        self.calls += 1
        if self.kill_at_step is not None and self.calls == self.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)   # a crash, not a clean exit: nothing is flushed or saved
        return self.head(torch.tanh(self.mix(self.embed(batch["input_ids"]))))


def data():
    rng = random.Random(0)
    titles = []
    for _ in range(TITLES):
        chars = [rng.choice("手机壳笔记本电脑华为苹果0123456789") for _ in range(LENGTH)]
        titles.append(TaggedTitle("".join(chars), tuple("B-XH" if c.isdigit() else "O" for c in chars)))
    vocab, tagset = Vocab.build(t.text for t in titles), TagSet(TAOBAO_TYPES)
    return encode_titles(titles, vocab, tagset), len(vocab), len(tagset)


def build(batch_size: int):
    items, v, l = data()
    torch.manual_seed(0)
    return TinyTagger(v, l), make_loader(items, batch_size, shuffle=True, seed=0)


def train_single(out_dir, world: int = 2) -> dict:
    "The reference: one process, batch `world * PER_RANK_BATCH`."
    model, loader = build(world * PER_RANK_BATCH)
    fit(model, loader, TrainConfig(**CONFIG), out_dir=out_dir, device="cpu", progress=False)
    return model.state_dict()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--kill-at-step", type=int, default=None)
    args = p.parse_args()
    from prodtags.distributed import init_distributed
    replicas = init_distributed(timeout_s=60)
    model, loader = build(replicas.world * PER_RANK_BATCH)   # global batches; fit hands each process its shard
    if replicas.rank == 1: model.kill_at_step = args.kill_at_step
    with data_parallel(replicas):
        state = fit(model, loader, TrainConfig(**CONFIG), out_dir=args.out, device="cpu", progress=False)
    if replicas.is_main:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(args.out, "final.safetensors"))
        print("epochs", state["epoch"], "steps", state["step"], flush=True)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
