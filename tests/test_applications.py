"""The reusable parts of nbs/90_applications: the tag index, BM25 over characters, score fusion, the ranking
metrics against hand-computed values, queries and questions from gold tags, the bag classifier and the template
description with its invented-attribute check (no model, no data: milliseconds)."""
import math

import numpy as np
import pytest

from prodtags.applications import (QUESTION_TEMPLATES, AppSettings, BagClassifier, TagIndex, TitleBM25,
                                   brand_product, brand_product_queries, char_ngrams, describe, fuse, minmax,
                                   ndcg_at_k, precision_at_k, question_keys, ranking, ranking_scores,
                                   reciprocal_rank, relevant_ids, shares_brand_and_product, tag_features, tag_keys,
                                   templated_questions, unsupported_values, word_features)
from prodtags.core import ConfigError, TagSpan


def spans(title, *pairs):
    "TagSpans from (type, text) pairs, each at its first occurrence in `title`."
    out = []
    for typ, x in pairs:
        s = title.index(x); out.append(TagSpan(x, typ, s, s + len(x)))
    return out


CATALOGUE = ["华为笔记本电脑轻薄本", "华为手机mate60", "小米笔记本电脑", "苹果手机壳"]
TAGS = [spans(CATALOGUE[0], ("HPPX", "华为"), ("HCCX", "笔记本"), ("HCCX", "电脑")),
        spans(CATALOGUE[1], ("HPPX", "华为"), ("HCCX", "手机"), ("XH", "mate60")),
        spans(CATALOGUE[2], ("HPPX", "小米"), ("HCCX", "笔记本"), ("HCCX", "电脑")),
        spans(CATALOGUE[3], ("HPPX", "苹果"), ("HCCX", "手机壳"))]


def test_tag_keys_lower_case_and_filter_types():
    keys = tag_keys([TagSpan("Mate60", "XH", 0, 6), TagSpan("华为", "HPPX", 6, 8)])
    assert keys == {("XH", "mate60"), ("HPPX", "华为")}
    assert tag_keys([TagSpan("华为", "HPPX", 0, 2), TagSpan("手机", "HCCX", 2, 4)], ("HCCX",)) == {("HCCX", "手机")}


def test_tag_index_postings_idf_and_scores():
    ix = TagIndex(TAGS)
    assert ix.postings[("HPPX", "华为")] == [0, 1] and ix.postings[("HCCX", "笔记本")] == [0, 2]
    assert ix.idf(("HPPX", "华为")) == pytest.approx(math.log(1 + 4 / 2))
    assert ix.idf(("HPPX", "索尼")) == 0.0                     # unknown tags count nothing
    s = ix.scores([("HPPX", "华为"), ("HCCX", "笔记本")])
    assert s.tolist() == pytest.approx([2 * math.log(3), math.log(3), math.log(3), 0.0])
    assert ranking(s) == [0, 1, 2]                               # ties in catalogue order; score 0 not returned


def test_tag_index_parses_a_typed_query_by_longest_match():
    ix = TagIndex(TAGS)
    assert ix.parse("华为 笔记本") == [("HPPX", "华为"), ("HCCX", "笔记本")]
    assert ix.parse("手机壳") == [("HCCX", "手机壳")]                # not 手机 + 壳
    assert ix.parse("索尼耳机") == []


def test_tag_index_similarity_is_jaccard():
    ix = TagIndex(TAGS)
    sim = ix.similar(ix.keys[0])
    assert sim[0] == 1.0 and sim[3] == 0.0
    assert sim[2] == pytest.approx(2 / 4)                        # {笔记本, 电脑} of {华为, 小米, 笔记本, 电脑}
    assert sim[1] == pytest.approx(1 / 5)
    w = ix.similar(ix.keys[0], weighted=True)
    idf = ix.idf
    assert w[2] == pytest.approx((idf(("HCCX", "笔记本")) + idf(("HCCX", "电脑"))) /
                                 sum(idf(k) for k in ix.keys[0] | ix.keys[2]))


def test_char_ngrams_stay_inside_words():
    assert char_ngrams("华为 Mate") == ["华", "为", "华为", "m", "a", "t", "e", "ma", "at", "te"]
    assert char_ngrams("ab", n=(3,)) == [] and char_ngrams("   ") == []


def test_bm25_ranks_the_title_with_the_query_first():
    bm = TitleBM25(CATALOGUE)
    s = bm.scores("小米 笔记本")
    assert s.shape == (4,) and ranking(s)[0] == 2
    assert bm.scores("   ").tolist() == [0.0] * 4                # a blank query finds nothing
    assert bm.scores("索尼").max() == 0.0                         # nor do characters no title has


def test_minmax_and_fuse():
    assert minmax(np.array([1.0, 3.0, 2.0])).tolist() == [0.0, 1.0, 0.5]
    assert minmax(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]
    a, b = np.array([0.0, 2.0, 1.0]), np.array([10.0, 0.0, 5.0])
    assert fuse(a, b, 1.0).tolist() == [0.0, 1.0, 0.5]
    assert fuse(a, b, 0.0).tolist() == [1.0, 0.0, 0.5]
    assert fuse(a, b, 0.25).tolist() == pytest.approx([0.75, 0.25, 0.5])
    with pytest.raises(ConfigError, match="weight"): fuse(a, b, 1.5)


def test_ranking_cuts_and_excludes():
    s = np.array([0.5, 0.0, 0.9, 0.5, -1.0])
    assert ranking(s) == [2, 0, 3]
    assert ranking(s, k=2) == [2, 0] and ranking(s, exclude=2) == [0, 3]


def test_metrics_against_hand_computed_values():
    ranked, relevant = [7, 3, 5, 1], {3, 1, 9}
    assert reciprocal_rank(ranked, relevant) == 0.5
    assert reciprocal_rank([4, 5], relevant) == 0.0
    # DCG = 1/log2(3) + 1/log2(5); ideal (3 relevant) = 1 + 1/log2(3) + 1/2
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) /
                                                            (1 + 1 / math.log2(3) + 0.5))
    assert ndcg_at_k(ranked, relevant, 1) == 0.0 and ndcg_at_k([3], {3}, 10) == 1.0
    assert ndcg_at_k([1, 2], set(), 10) == 0.0
    assert precision_at_k(ranked, relevant, 2) == 0.5 and precision_at_k([3], relevant, 5) == 0.2
    r = ranking_scores([ranked, [3]], [relevant, {3}])
    assert r["mrr"] == pytest.approx(75.0) and r["queries"] == 2
    with pytest.raises(ConfigError): ranking_scores([ranked], [])


def test_queries_and_relevance_from_gold_tags():
    assert brand_product({("HPPX", "华为技术"), ("HPPX", "华为"), ("HCCX", "笔记本电脑"), ("HCCX", "电脑")}) == ("华为", "电脑")
    assert brand_product({("HCCX", "手机")}) is None
    keys = [tag_keys(t) for t in TAGS]
    assert brand_product_queries(keys + keys[:1]) == [("华为", "电脑"), ("华为", "手机"), ("小米", "电脑"), ("苹果", "手机壳")]
    gold = TagIndex(TAGS)
    assert relevant_ids(gold, "华为", "笔记本") == {0} and relevant_ids(gold, "索尼", "笔记本") == set()
    assert shares_brand_and_product(keys[0], keys[0]) and not shares_brand_and_product(keys[0], keys[2])


def test_templated_questions_cycle_the_templates():
    qs = templated_questions([("华为", "笔记本")] * (len(QUESTION_TEMPLATES) + 1))
    assert qs[0] == "有没有华为的笔记本" and qs[-1] == qs[0] and len(set(qs)) == len(QUESTION_TEMPLATES)
    assert all("华为" in q and "笔记本" in q for q in qs)
    q = "有没有华为的笔记本"
    assert question_keys(spans(q, ("HPPX", "华为"), ("HCCX", "笔记本"), ("MISC", "有没"))) == {("HPPX", "华为"), ("HCCX", "笔记本")}


def test_features():
    assert tag_features(TAGS[1]) == ["HCCX=手机", "HPPX=华为", "XH=mate60"]
    assert tag_features(TAGS[1], with_types=False) == ["mate60", "华为", "手机"]
    assert word_features("Dark Roast, dark ROAST 12 oz") == ["12", "dark", "oz", "roast"]


def test_bag_classifier_learns_separable_bags():
    docs = [["coffee", "roast"], ["roast", "bean"], ["tea", "leaf"], ["leaf", "green"]] * 3
    labels = ["Coffee", "Coffee", "Tea", "Tea"] * 3
    clf = BagClassifier(steps=50).fit(docs, labels)
    assert clf.predict([["bean"], ["green", "unseen"], []])[:2] == ["Coffee", "Tea"]
    assert len(clf.predict([[]])) == 1                           # an empty bag still gets a label
    with pytest.raises(ConfigError): BagClassifier().fit([["a"]], ["x", "y"])


def test_describe_states_only_what_the_tags_hold():
    title = "华为mate60手机5g全网通"
    d = describe(spans(title, ("HPPX", "华为"), ("XH", "mate60"), ("HCCX", "手机"), ("MISC", "5g全网通")))
    assert d == "手机（品牌：华为；型号：mate60；其他：5g全网通）。"
    assert describe([]) == ""
    assert describe(spans("华为", ("HPPX", "华为"))) == "品牌：华为。"            # no product word: no noun made up
    assert describe(spans("手机 手机", ("HCCX", "手机"))) == "手机。"             # repeated tags said once


def test_unsupported_values_flags_invented_attributes():
    tags = spans("华为笔记本电脑", ("HPPX", "华为"), ("HCCX", "笔记本电脑"))
    vocab = {"华为", "笔记本", "笔记本电脑", "16gb", "英特尔", "品牌"}
    assert unsupported_values(describe(tags), tags, vocab - {"品牌"}) == []
    assert unsupported_values("华为笔记本电脑，英特尔处理器，16GB内存", tags, vocab) == ["16gb", "英特尔"]
    # the template's own words are checked too: a vocabulary value in them would be flagged
    assert unsupported_values(describe(tags), tags, vocab) == ["品牌"]


def test_settings_per_profile():
    smoke, cpu = AppSettings.for_profile("smoke"), AppSettings.for_profile("cpu")
    assert smoke.catalogue_size and cpu.catalogue_size is None and smoke.max_queries < 100
