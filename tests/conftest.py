import os

import pytest
from hypothesis import settings

from prodtags.core import DataNotFoundError

# No per-example deadline (a busy 2-core CI machine is slow, not wrong); on CI the examples are derandomized so
# that a red run can be reproduced, locally they vary from run to run and keep finding new cases.
settings.register_profile("prodtags", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("prodtags")

# Tests run in the smoke profile unless told otherwise; the notebooks' stored outputs come from the cpu profile.
os.environ.setdefault("PRODTAGS_PROFILE", "smoke")


@pytest.fixture(scope="session")
def taobao():
    "The real Taobao splits, or a skip when no data folder is set and there is no network."
    from prodtags.data import load_taobao
    try:
        return {s: load_taobao(s) for s in ("train", "dev", "test", "dev_clean", "test_clean")}
    except DataNotFoundError as e:
        pytest.skip(f"Taobao data not available: {e}")


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    "A private cache folder, so tests never touch the user's."
    monkeypatch.setenv("PRODTAGS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


TYPES = ["HCCX", "HPPX", "XH", "MISC"]


def title(text, *spans):
    "A TaggedTitle from (type, span text) pairs, each found at its first occurrence (`from conftest import title`)."
    from prodtags.data import TaggedTitle, spans_to_bio
    out = []
    for typ, x in spans:
        s = text.index(x); out.append((typ, s, s + len(x)))
    return TaggedTitle(text, tuple(spans_to_bio(out, len(text))))


def toy_titles(n=120, seed=0):
    "Brands from a fixed list followed by product words: learnable in a few epochs."
    import random
    from prodtags.data import parse_bio_lines, spans_to_bio
    rng = random.Random(seed)
    brands, products = ["华为", "小米", "苹果", "联想"], ["手机", "电脑", "耳机", "手表"]
    lines = []
    for _ in range(n):
        b, p = rng.choice(brands), rng.choice(products)
        text = rng.choice(["", "新款"]) + b + p + rng.choice(["", "正品"])
        start = text.index(b)
        tags = spans_to_bio([("HPPX", start, start + 2), ("HCCX", start + 2, start + 4)], len(text))
        lines += [f"{c} {t}" for c, t in zip(text, tags)] + [""]
    return parse_bio_lines(lines)


@pytest.fixture()
def toy():
    "`toy(seed=0, init_seed=None)` -> (titles, vocab, tagset, a small char-BiLSTM, a loader) on the toy task."
    import torch
    from prodtags.data import TagSet, Vocab, encode_titles, make_loader
    from prodtags.recipes import CharBiLSTMTagger

    def make(seed=0, init_seed=None):
        titles = toy_titles()
        vocab, tagset = Vocab.build(t.text for t in titles), TagSet(TYPES)
        torch.manual_seed(seed if init_seed is None else init_seed)
        model = CharBiLSTMTagger(len(vocab), len(tagset), embed_dim=16, hidden_size=16, dropout=0.2)
        loader = make_loader(encode_titles(titles, vocab, tagset), 16, shuffle=True, seed=seed)
        return titles, vocab, tagset, model, loader
    return make
