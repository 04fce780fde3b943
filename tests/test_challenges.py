"""The reusable parts of nbs/95_challenges and nbs/96_fewer_labels: frequency buckets, the label-noise finder, the tag
graph, the distant labeller, self-training and the weakly supervised recipes (smoke profile, seconds)."""
from collections import Counter

import pytest

from conftest import title
from prodtags.challenges import (FREQ_BUCKETS, apply_flags, bucket_scores, conflicting_duplicates, flag_label_noise,
                                 frequency_bucket, kfold_predict, span_counts, tag_graph, type_prior)
from prodtags.core import ConfigError
from prodtags.data import bio_to_spans, spans_to_bio
from prodtags.fewer_labels import (dictionary_tags, distant_titles, gold_and_pool, self_training_titles,
                                   span_dictionary, weak_titles)
from prodtags.taggers import SpanTagger


class Fixed(SpanTagger):
    "A tagger that returns given tags and confidences (by title text)."
    def __init__(self, answers): super().__init__(None); self.answers = answers
    def predict_tags(self, texts, batch_size=64):
        return [self.answers[t][0] for t in texts], [self.answers[t][1] for t in texts]
    def save(self, folder, extra=None): raise AssertionError("a test double is never saved")
    @classmethod
    def load(cls, folder, device=None): raise AssertionError("a test double is never loaded")


@pytest.mark.parametrize("count,name", [(0, "unseen"), (1, "1"), (2, "2-5"), (5, "2-5"), (6, "6-20"), (20, "6-20"),
                                        (21, ">20"), (10_000, ">20")])
def test_frequency_bucket(count, name):
    assert frequency_bucket(count) == name


def test_frequency_bucket_rejects_gaps_and_negatives():
    with pytest.raises(ValueError): frequency_bucket(-1)
    with pytest.raises(ValueError): frequency_bucket(3, (("a", 0, 1), ("b", 5, None)))


def test_bucket_scores_put_each_span_in_its_bucket():
    train = [title("红色连衣裙", ("HCCX", "连衣裙"))] * 3 + [title("耐克鞋", ("HPPX", "耐克"), ("HCCX", "鞋"))]
    counts = span_counts(train)
    assert counts[("HCCX", "连衣裙")] == 3 and counts[("HPPX", "耐克")] == 1
    gold = [title("蓝色连衣裙", ("HCCX", "连衣裙")), title("阿迪鞋", ("HPPX", "阿迪"), ("HCCX", "鞋"))]
    pred = [list(gold[0].tags), ["O"] * 3]                 # the frequent word found, the unseen brand missed
    rows = {(r["type"], r["bucket"]): r for r in bucket_scores(gold, pred, counts)}
    assert rows[("HCCX", "2-5")]["f1"] == 1.0 and rows[("HCCX", "1")]["recall"] == 0.0
    assert rows[("HPPX", "unseen")]["support"] == 1 and rows[("HPPX", "unseen")]["recall"] == 0.0
    assert rows[("all", "2-5")]["support"] == 1 and sum(r["support"] for k, r in rows.items() if k[0] == "all") == 3
    with pytest.raises(ValueError): bucket_scores(gold, pred[:1], counts)


def test_conflicting_duplicates():
    a, b = title("小米手机", ("HCCX", "手机")), title("小米手机", ("HPPX", "小米"), ("HCCX", "手机"))
    assert conflicting_duplicates([a, a, title("手表", ("HCCX", "手表"))]) == []
    assert conflicting_duplicates([a, b, a]) == [[a, b]]


def test_kfold_predict_never_tags_a_title_with_a_model_that_saw_it():
    titles = [title(f"标题{i}", ("HCCX", "标题")) for i in range(6)] + [title("标题0", ("HCCX", "标题"))]
    def train_fn(fold):
        texts = {t.text for t in fold}
        return Fixed({t.text: (["O"] * len(t.text), [1.0] * len(t.text)) for t in titles if t.text not in texts})
    tags, confs = kfold_predict(titles, train_fn, k=3)
    assert len(tags) == len(titles) and all(len(t) == len(x.text) for t, x in zip(tags, titles))
    with pytest.raises(ConfigError): kfold_predict(titles, train_fn, k=1)
    with pytest.raises(ConfigError): kfold_predict(titles[:2], train_fn, k=3)


def test_flag_label_noise_kinds_and_threshold():
    t = title("苹果手机壳红色", ("HCCX", "手机壳"), ("MISC", "红色"))
    pred = spans_to_bio([("HPPX", 0, 2), ("HCCX", 2, 5)], len(t.text))   # adds a brand, says O on 红色
    conf = [0.95] * len(t.text)
    kinds = Counter(f["kind"] for f in flag_label_noise([t], [pred], [conf], 0.9))
    assert kinds == {"missing": 1, "spurious": 1}
    assert flag_label_noise([t], [pred], [[0.5] * len(t.text)], 0.9) == []
    typed = spans_to_bio([("HCCX", 2, 5), ("XH", 5, 7)], len(t.text))
    assert [f["kind"] for f in flag_label_noise([t], [typed], [conf], 0.9)] == ["wrong type"]
    with pytest.raises(ConfigError): flag_label_noise([t], [pred], [conf], 1.5)


def test_apply_flags_fix_and_drop():
    t, other = title("苹果手机壳红色", ("HCCX", "手机壳"), ("MISC", "红色")), title("手表", ("HCCX", "手表"))
    pred = spans_to_bio([("HPPX", 0, 2), ("HCCX", 2, 5)], len(t.text))
    flags = flag_label_noise([t, other], [pred, list(other.tags)], [[0.95] * 7, [0.99] * 2], 0.9)
    fixed = apply_flags([t, other], flags, "fix")
    assert set(bio_to_spans(fixed[0].tags)) == {("HPPX", 0, 2), ("HCCX", 2, 5)} and fixed[1] == other
    assert apply_flags([t, other], flags, "drop") == [other]
    assert apply_flags([t, other], flags, "fix", kinds=("wrong type",)) == [t, other]
    with pytest.raises(ConfigError): apply_flags([t], flags, "reweight")


def test_tag_graph_and_type_prior():
    titles = [title("耐克运动鞋", ("HPPX", "耐克"), ("HCCX", "运动鞋"))] * 3 + [title("耐克袜子", ("HPPX", "耐克"), ("HCCX", "袜子"))]
    g = tag_graph(titles)
    assert g.nodes["耐克"]["count"] == 4 and g.nodes["耐克"]["type"] == "HPPX"
    assert g["耐克"]["运动鞋"]["weight"] == 3 and not g.has_edge("运动鞋", "袜子")
    assert "袜子" not in tag_graph(titles, min_count=2)
    pred = spans_to_bio([("HCCX", 0, 2), ("HCCX", 2, 5)], 5)               # the brand typed as a product word
    assert bio_to_spans(type_prior(pred, "耐克运动鞋", g)) == [("HPPX", 0, 2), ("HCCX", 2, 5)]
    assert type_prior(pred, "耐克运动鞋", g, min_count=5) == pred


def test_dictionary_tags_longest_match_and_latin_runs():
    d = {"连衣裙": "HCCX", "裙": "HCCX", "q2": "XH", "耐克": "HPPX"}
    assert bio_to_spans(dictionary_tags("耐克连衣裙", d)) == [("HPPX", 0, 2), ("HCCX", 2, 5)]
    assert dictionary_tags("ulq2003", d) == ["O"] * 7 and bio_to_spans(dictionary_tags("型号q2", d)) == [("XH", 2, 4)]
    assert dictionary_tags("连衣裙", {}) == ["O"] * 3


def test_span_dictionary_and_distant_titles():
    gold = [title("耐克运动鞋", ("HPPX", "耐克"), ("HCCX", "运动鞋")), title("耐克鞋", ("HCCX", "耐克"), ("HCCX", "鞋"))]
    d = span_dictionary(gold)
    assert d == {"耐克": "HPPX", "运动鞋": "HCCX"}            # one-character 鞋 left out; ties keep the first type
    assert [t.text for t in distant_titles(["耐克袜子", "袜子"], d)] == ["耐克袜子"]


def test_gold_and_pool_are_nested_and_disjoint():
    titles = [title(f"商品{i}", ("HCCX", "商品")) for i in range(20)]
    g5, pool = gold_and_pool(titles, 5, 8, seed=1)
    g10, _ = gold_and_pool(titles, 10, 8, seed=1)
    assert len(pool) == 8 and not {t.text for t in g5} & set(pool) and g10[:5] == g5
    with pytest.raises(ConfigError): gold_and_pool(titles, 21)


def test_self_training_keeps_only_confident_titles():
    teacher = Fixed({"耐克": (["B-HPPX", "I-HPPX"], [0.99, 0.95]), "袜子": (["B-HCCX", "I-HCCX"], [0.99, 0.4])})
    kept = self_training_titles(teacher, ["耐克", "袜子"], 0.9)
    assert [t.text for t in kept] == ["耐克"] and kept[0].tags == ("B-HPPX", "I-HPPX")
    with pytest.raises(ConfigError): weak_titles([], ["耐克"], "self-training")
    with pytest.raises(ConfigError): weak_titles([], ["耐克"], "magic")


def test_crf_on_real_titles_smoke(taobao):
    pytest.importorskip("pycrfsuite")
    from prodtags.rnn import CRFSuiteTagger
    titles = taobao["train"][:60]
    tags, confs = kfold_predict(titles, lambda f: CRFSuiteTagger.train(f, max_iterations=5), k=2)
    flags = flag_label_noise(titles, tags, confs, 0.5)
    assert all(f["text"] == titles[f["index"]].text[f["start"]:f["end"]] for f in flags)
    assert len(apply_flags(titles, flags, "fix")) == len(titles)


@pytest.mark.parametrize("recipe", ["crf-distant", "crf-selftrain"])
def test_weak_recipes_train_and_say_they_are_weak(recipe, taobao, tmp_path):
    pytest.importorskip("pycrfsuite")
    from prodtags.recipes import find_recipe
    tagger, rec = find_recipe(recipe).load()(tmp_path / recipe, profile="smoke", progress=False)
    assert rec["technique"].endswith("-weak") and rec["supervision"].startswith("weak: ")
    assert rec["gold_titles"] == 100 and rec["train_titles"] == rec["gold_titles"] + rec["weak_titles"]
    assert 0 <= rec["scores"]["test_clean"]["overall"]["f1"] <= 1
    assert tagger.predict("耐克运动鞋") is not None
