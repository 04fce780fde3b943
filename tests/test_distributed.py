"""Data-parallel training on CPU with gloo, launched by torchrun as users launch it: equivalence with one process,
resume after a killed run; the batch sharding; and streaming / Dask tagging that matches in-process tagging."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
import ddp_worker  # noqa: E402

from prodtags.core import ConfigError
from prodtags.data import LengthBucketSampler
from prodtags.distributed import ShardedBatchSampler, batched, init_distributed, tag_in_processes, tag_stream

WORKER = Path(__file__).parent / "ddp_worker.py"
ROOT = Path(__file__).resolve().parents[1]
# Sums of the same numbers in another order (a 2-way all-reduce, then AdamW for 12 steps) differ by float32 rounding.
TOLERANCE = 1e-5


def torchrun(out, *extra, nproc=2, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PRODTAGS_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           str(WORKER), str(out), *extra], env=env, capture_output=True, text=True, timeout=timeout)


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    r = torchrun(out)
    assert r.returncode == 0, r.stderr[-2000:]
    return out, load_file(str(out / "final.safetensors"))


def test_two_processes_with_batch_b_equal_one_process_with_batch_2b(ddp_run, tmp_path):
    out, ddp = ddp_run
    single = ddp_worker.train_single(tmp_path / "single")
    assert max_diff(ddp, single) < TOLERANCE
    # ... and they did move: the comparison is not between two untrained models.
    torch.manual_seed(0)
    start = ddp_worker.TinyTagger(*ddp_worker.data()[1:]).state_dict()
    assert max_diff(ddp, start) > 100 * TOLERANCE


def test_a_killed_two_process_run_resumes_to_the_same_result(ddp_run, tmp_path):
    _, reference = ddp_run
    out = tmp_path / "run"
    # Rank 1 is SIGKILLed at its 13th forward pass: in epoch 2 (8 batches an epoch), after epoch 1's checkpoint.
    killed = torchrun(out, "--kill-at-step", "13")
    assert killed.returncode != 0
    assert (out / "checkpoint" / "state.json").is_file() and not (out / "final.safetensors").exists()
    resumed = torchrun(out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert max_diff(load_file(str(out / "final.safetensors")), reference) < TOLERANCE


def test_sharded_batches_are_disjoint_cover_the_global_batch_and_follow_set_epoch():
    lengths = [3, 9, 4, 7, 7, 2, 5, 8, 1, 6, 6, 2]
    base = LengthBucketSampler(lengths, 4, shuffle=True, seed=1)
    shards = [ShardedBatchSampler(LengthBucketSampler(lengths, 4, shuffle=True, seed=1), r, 2) for r in range(2)]
    for epoch in (0, 1):
        base.set_epoch(epoch); [s.set_epoch(epoch) for s in shards]
        for whole, a, b in zip(base, *shards):
            assert sorted(a + b) == sorted(whole) and not set(a) & set(b)
    first = [list(b) for b in shards[0]]
    shards[0].set_epoch(0)
    assert first != [list(b) for b in shards[0]], "set_epoch(1) and set_epoch(0) gave the same order"
    assert len(shards[0]) == len(base) == 3


def test_a_short_last_batch_still_gives_every_process_a_step():
    class Fixed:
        def __iter__(self): return iter([[0, 1, 2, 3], [4]])
        def __len__(self): return 2
    assert [list(ShardedBatchSampler(Fixed(), r, 2)) for r in range(2)] == [[[0, 2], [4]], [[1, 3], [4]]]
    with pytest.raises(ConfigError): ShardedBatchSampler(Fixed(), 2, 2)


def test_init_outside_torchrun_says_how_to_launch(monkeypatch):
    for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"): monkeypatch.delenv(v, raising=False)
    with pytest.raises(ConfigError, match="torchrun"): init_distributed()


# ---------------------------------------------------------------- catalogue-scale tagging

@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory):
    "An untrained character tagger: tagging plumbing does not need a good model, only a deterministic one."
    from prodtags.data import TAOBAO_TYPES, TagSet, Vocab
    from prodtags.recipes import CharBiLSTMTagger
    from prodtags.taggers import CharTagger
    torch.manual_seed(0)
    vocab = Vocab.build(["华为笔记本电脑轻薄本14英寸", "苹果iphone15手机壳", "连衣裙女夏季新款"])
    tagset = TagSet(TAOBAO_TYPES)
    folder = tmp_path_factory.mktemp("tagger") / "tagger"
    CharTagger(CharBiLSTMTagger(len(vocab), len(tagset), 16, 16), vocab, tagset, "cpu").save(folder)
    return folder


TITLES = [f"华为笔记本电脑{i}英寸" if i % 3 else f"苹果iphone{i}手机壳" for i in range(300)] + ["", "连衣裙"]


def expected(folder):
    from prodtags.cli import format_jsonl
    from prodtags.taggers import load_tagger
    tagger = load_tagger(folder, "cpu")
    return rounded([format_jsonl(t, s) for t, s in zip(TITLES, tagger.predict(TITLES))])


def rounded(lines):
    "Records with scores to 4 places: batches of other sizes pad differently, which moves the 7th digit."
    import json
    return [{**r, "tags": [{**t, "score": round(t["score"], 4)} for t in r["tags"]]} for r in map(json.loads, lines)]


def test_batched_and_tag_stream_read_lazily(tagger_dir):
    from prodtags.taggers import load_tagger
    assert list(batched(iter(range(5)), 2)) == [[0, 1], [2, 3], [4]]
    read = []
    def titles():
        for t in TITLES: read.append(t); yield t
    stream = tag_stream(load_tagger(tagger_dir, "cpu"), titles(), batch_size=16)
    next(stream)
    assert len(read) == 16, "the first result came before the whole input was read"


def test_two_worker_processes_give_the_same_lines_in_order(tagger_dir):
    assert rounded(tag_in_processes(tagger_dir, iter(TITLES), workers=2, batch_size=16, chunk=50)) == expected(tagger_dir)


def test_dask_local_cluster_tags_a_file_like_one_process(tagger_dir, tmp_path):
    distributed = pytest.importorskip("distributed", reason="pip install 'prodtags[scale]'")
    from prodtags.distributed import dask_tag
    src = tmp_path / "titles.txt"
    src.write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        parts = dask_tag(client, tagger_dir, src, tmp_path / "out", blocksize="2KiB")
    assert len(parts) > 1, "the file should have been split over several partitions"
    lines = [l for p in sorted(parts, key=lambda p: int(Path(p).stem.split("-")[1])) for l in Path(p).read_text(encoding="utf-8").splitlines()]
    assert rounded(lines) == expected(tagger_dir)


def test_the_entry_point_trains_a_recipe_on_two_processes(tmp_path):
    "python -m prodtags.distributed RECIPE --nproc 2: torchrun started for the user, rank 0 alone prints and saves."
    import json
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PRODTAGS_PROGRESS": "0", "PRODTAGS_PROFILE": "smoke",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "prodtags.distributed", "char-bilstm", "--nproc", "2",
                        "--out", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert sum(l.startswith("epoch 1:") for l in lines) == 1, "every process printed its epoch line"
    summary = json.loads(lines[-1])
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    assert (tmp_path / "run" / "tagger" / "config.json").is_file()
    assert json.loads((tmp_path / "run" / "results.json").read_text())["world_size"] == 2
