"""prodtags.active (nbs/92_active_learning): the simulated annotator on a tiny pool, in seconds."""
import json
from functools import partial

import pytest

from prodtags.active import (STRATEGIES, annotation_pool, curve, fit_crf, full_reference, least_confidence, run_name,
                             select_batch, simulate, titles_to_reach, token_entropy)
from prodtags.core import ConfigError
from prodtags.data import TaggedTitle
from prodtags.taggers import SpanTagger

SIZES = (5, 10, 20)
train = partial(fit_crf, max_iterations=10)   # a few L-BFGS steps: milliseconds a training on this pool


@pytest.fixture(scope="module")
def tiny(taobao):
    "A pool of 60 distinct training titles and 40 dev_clean titles to score on."
    return annotation_pool(taobao["train"], 60), {"dev_clean": taobao["dev_clean"][:40]}


def test_pool_keeps_each_text_once(taobao):
    titles = taobao["train"]
    pool = annotation_pool([*titles[:30], *titles[:30]])
    assert [t.text for t in pool] == list(dict.fromkeys(t.text for t in titles[:30]))
    full = annotation_pool(titles)
    assert len(full) == len({t.text for t in titles}) < len(titles)   # the training file repeats titles


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sizes_respected_and_no_title_annotated_twice(tiny, strategy):
    pool, evals = tiny
    run = simulate(pool, evals, strategy, 0, SIZES, train=train)
    assert [c["titles"] for c in run["checkpoints"].values()] == list(SIZES)
    assert len(run["order"]) == SIZES[-1] == len(set(run["order"]))
    texts = [pool[j].text for j in run["order"]]
    assert len(set(texts)) == len(texts)
    first = run["checkpoints"]["5"]
    assert first["characters"] == sum(len(pool[j].text) for j in run["order"][:5])
    assert set(first["scores"]) == {"dev_clean"} and 0 <= first["scores"]["dev_clean"]["overall"]["f1"] <= 1


def test_strategies_share_the_seed_set_then_differ(tiny):
    pool, evals = tiny
    u = simulate(pool, evals, "uncertainty", 0, SIZES, train=train)
    r = simulate(pool, evals, "random", 0, SIZES, train=train)
    assert u["order"][:SIZES[0]] == r["order"][:SIZES[0]]
    assert set(u["order"]) != set(r["order"])
    assert simulate(pool, evals, "random", 1, SIZES, train=train)["order"][:SIZES[0]] != r["order"][:SIZES[0]]


def test_random_first_switches_to_uncertainty_at_warmup(tiny):
    pool, evals = tiny
    first = simulate(pool, evals, "random-first", 0, SIZES, train=train, warmup=10)
    r = simulate(pool, evals, "random", 0, SIZES, train=train)
    assert first["order"][:10] == r["order"][:10]
    assert first["checkpoints"]["10"]["scores"] == r["checkpoints"]["10"]["scores"]   # random order itself up to warmup
    picked = select_batch(train([pool[j] for j in first["order"][:10]]), pool, first["order"][:10], 10, "uncertainty",
                          list(range(len(pool))))
    assert first["order"][10:] == picked != r["order"][10:20]


def test_uncertainty_takes_the_least_confident_titles(tiny):
    pool, _ = tiny
    tagger = train(pool[:10])
    rest = list(range(10, len(pool)))
    batch = select_batch(tagger, pool, list(range(10)), 5, "uncertainty", list(range(len(pool))))
    u = least_confidence(tagger, [pool[j].text for j in rest])
    assert batch == [rest[i] for i in sorted(range(len(rest)), key=lambda i: (-u[i], i))[:5]]
    assert min(u[j - 10] for j in batch) >= sorted(u, reverse=True)[4]
    assert all(0 <= x <= 1 for x in u)


def test_token_entropy(tiny):
    pool, _ = tiny
    tagger = train(pool[:10])
    h = token_entropy(tagger, [pool[10].text, pool[10].text + pool[11].text, ""])
    assert h[0] > 0 and h[1] > h[0] and h[2] == 0      # a sum over characters: more characters, more entropy

    class Plain(SpanTagger):
        def predict_tags(self, texts, batch_size=64): return [["O"] * len(t) for t in texts], [[1.0] * len(t) for t in texts]
        def save(self, folder, extra=None): raise AssertionError
        @classmethod
        def load(cls, folder, device=None): raise AssertionError
    with pytest.raises(ConfigError, match="least-confidence"):
        token_entropy(Plain(), ["华为手机"])


def test_a_killed_run_continues_where_it_stopped(tiny, tmp_path):
    pool, evals = tiny
    whole = simulate(pool, evals, "uncertainty", 0, SIZES, train=train)
    cache, calls = tmp_path / run_name("uncertainty", 0), []

    def dies_at_20(titles):
        if len(titles) == 20: raise KeyboardInterrupt("killed")
        calls.append(len(titles)); return train(titles)
    with pytest.raises(KeyboardInterrupt):
        simulate(pool, evals, "uncertainty", 0, SIZES, train=dies_at_20, cache=cache)
    saved = json.loads(cache.read_text(encoding="utf-8"))
    assert list(saved["checkpoints"]) == ["5", "10"] and len(saved["order"]) == 20

    def counting(titles): calls.append(len(titles)); return train(titles)
    calls.clear()
    resumed = simulate(pool, evals, "uncertainty", 0, SIZES, train=counting, cache=cache)
    assert calls == [20]                                  # only the checkpoint that was missing
    assert resumed["order"] == whole["order"] and resumed["checkpoints"] == json.loads(cache.read_text())["checkpoints"]
    assert {n: c["scores"] for n, c in resumed["checkpoints"].items()} == {n: c["scores"] for n, c in whole["checkpoints"].items()}
    calls.clear()
    simulate(pool, evals, "uncertainty", 0, SIZES, train=counting, cache=cache)
    assert calls == []                                    # finished: nothing retrained
    resumed = simulate(pool, evals, "uncertainty", 0, (*SIZES, 30), train=counting, cache=cache)
    assert calls == [20, 30] and len(resumed["order"]) == 30   # a longer schedule continues the same run


def test_a_cache_made_another_way_is_refused(tiny, tmp_path):
    pool, evals = tiny
    cache = tmp_path / "run.json"
    simulate(pool, evals, "random", 0, SIZES, train=train, cache=cache)
    with pytest.raises(ConfigError, match="seed"):
        simulate(pool, evals, "random", 1, SIZES, train=train, cache=cache)
    with pytest.raises(ConfigError, match="pool"):
        simulate(pool[:50], evals, "random", 0, SIZES, train=train, cache=cache)
    with pytest.raises(ConfigError, match="checkpoints"):
        simulate(pool, evals, "random", 0, (5, 15, 20), train=train, cache=cache)
    simulate(pool, evals, "random-first", 0, SIZES, train=train, cache=tmp_path / "first.json", warmup=10)
    with pytest.raises(ConfigError, match="warmup"):
        simulate(pool, evals, "random-first", 0, SIZES, train=train, cache=tmp_path / "first.json", warmup=5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(strategy="greedy"), "strategy"), (dict(measure="margin"), "measure"), (dict(sizes=(10, 5)), "increasing"),
    (dict(sizes=(0, 5)), "increasing"), (dict(sizes=(5, 100)), "pool has 60")])
def test_bad_settings_name_the_problem(tiny, kwargs, match):
    pool, evals = tiny
    with pytest.raises(ConfigError, match=match):
        simulate(pool, evals, **{"sizes": SIZES, **kwargs}, train=train)


def test_full_reference_is_cached(tiny, tmp_path):
    pool, evals = tiny
    ref = full_reference(pool, evals, train, tmp_path / "full.json")
    assert ref["titles"] == len(pool) and "overall" in ref["scores"]["dev_clean"]
    def never(titles, max_iterations): raise AssertionError("the cached reference should be read, not retrained")
    assert full_reference(pool, evals, partial(never, max_iterations=10), tmp_path / "full.json") == ref
    with pytest.raises(AssertionError):   # another CRF budget: the cache does not answer for it
        full_reference(pool, evals, partial(never, max_iterations=20), tmp_path / "full.json")


def test_curve_and_titles_to_reach():
    def run(f1s): return {"checkpoints": {str(n): {"scores": {"test_clean": {"overall": {"f1": f}}}} for n, f in f1s.items()}}
    runs = [run({10: 0.2, 20: 0.5}), run({10: 0.4, 20: 0.7})]
    c = curve(runs)
    assert list(c) == [10, 20] and c[10][0] == pytest.approx(30) and c[20][2] == pytest.approx([50, 70])
    assert c[10][1] == pytest.approx(14.142, abs=1e-3)
    assert titles_to_reach(c, 55) == 20 and titles_to_reach(c, 30) == 10 and titles_to_reach(c, 61) is None
    assert titles_to_reach(c, 45, interpolate=True) == 14           # halfway between 30 and 60 in log(titles)
    assert titles_to_reach(c, 20, interpolate=True) == 10 and titles_to_reach(c, 61, interpolate=True) is None
