"""SoftLexicon features (nbs/71_lexicon): B/M/E/S sets on hand examples, the training-split gazetteer and its
leave-one-out, the lexicon CRF's save/load round trip and its recipe (smoke profile)."""
from collections import Counter

import pytest

pytest.importorskip("jieba")

from prodtags.core import CheckpointError, ConfigError  # noqa: E402
from conftest import title  # noqa: E402
from prodtags.lexicon import (CRF_LEX_SOURCES, SETS, Gazetteer, Lexicon, LexiconCRFTagger,  # noqa: E402
                              LexiconFeatures, build_lexicon, jieba_lexicon, own_tags, training_exclusions)


def present(feats: LexiconFeatures, text: str, source: str, exclude=None) -> list[str]:
    "For each character, the sets (B/M/E/S) of `source` it is in, as a string such as 'BE'."
    x = feats.stats(text, exclude)[:, feats.sources.index(source), :, 0]
    return ["".join(s for s, on in zip(SETS, row) if on) for row in x]


def test_bmes_sets_on_a_hand_example():
    feats = LexiconFeatures(Lexicon({"手机": 10, "手机壳": 2, "壳": 1, "苹果": 5}))
    #                      苹    果    手    机     壳
    assert present(feats, "苹果手机壳", "jieba") == ["B", "E", "B", "ME", "ES"]
    stats = feats.stats("苹果手机壳")
    assert stats[2, 0, 0, 1] == 12          # 手 begins 手机 (10) and 手机壳 (2): summed weights
    assert stats[2, 0, 0, 2] == 3           # the longest word it begins has 3 characters
    assert feats.dense("苹果手机壳").shape == (5, feats.dim) == (5, 12)


def test_matching_ignores_case_and_unknown_text():
    lex = Lexicon({"iPhone": 3})
    assert lex.matches("新款IPHONE壳") == [(2, 8, "iphone")]
    assert lex.matches("") == [] and Lexicon({"x": 1}).matches("abc") == []


def test_jieba_dictionary_is_loaded_once():
    lex = jieba_lexicon()
    assert len(lex) > 300_000 and lex.words["手机"] > 0
    assert jieba_lexicon() is lex


def test_gazetteer_counts_types_and_leaves_a_title_out():
    train = [title("苹果手机壳", ("HPPX", "苹果"), ("HCCX", "手机壳")), title("苹果手机", ("HPPX", "苹果"), ("HCCX", "手机")),
             title("小米手环", ("HPPX", "小米"), ("HCCX", "手环"))]
    gaz = Gazetteer.from_titles(train)
    assert gaz.words["苹果"] == {"HPPX": 2} and gaz.words["手机壳"] == {"HCCX": 1}
    feats = LexiconFeatures(gazetteer=gaz)
    # With its own tags left out, the third title's brand is unknown (it is its only occurrence)...
    ex = training_exclusions(train)
    assert present(feats, "小米手环", "gaz-HPPX", ex[2]) == ["", "", "", ""]
    assert present(feats, "小米手环", "gaz-HPPX") == ["B", "E", "", ""]
    # ...while 苹果, seen in two titles, stays known to each of them.
    assert present(feats, "苹果手机壳", "gaz-HPPX", ex[0])[:2] == ["B", "E"]
    assert training_exclusions(train, leave_out=False) == [None, None, None]
    assert own_tags(train[0]) == [("苹果", "HPPX"), ("手机壳", "HCCX")]


def test_gazetteer_round_trips_through_json():
    gaz = Gazetteer({"华为": {"HPPX": 3}, "x" * 30: {"HCCX": 1}})
    assert "x" * 30 not in gaz.words                     # longer than max_len
    assert Gazetteer.from_json(gaz.to_json()).words == gaz.words


def test_build_lexicon_checks_sources():
    with pytest.raises(ConfigError, match="sources"): build_lexicon([], ["wordnet"])
    with pytest.raises(ConfigError, match="lexicon or a gazetteer"): LexiconFeatures()


def test_gazetteer_comes_from_the_training_split_only(taobao):
    train = taobao["train"][:500]
    feats = build_lexicon(train, ["gazetteer"])
    train_words = {w for t in train for w, _ in own_tags(t)}
    assert set(feats.gazetteer.words) == {w for w in train_words if len(w) <= feats.gazetteer.max_len}
    only_test = {w for t in taobao["test_clean"] for w, _ in own_tags(t)} - train_words
    assert only_test and not only_test & set(feats.gazetteer.words)


def test_crf_lex_recipe_saves_and_loads(taobao, tmp_path):
    from prodtags.recipes import find_recipe
    from prodtags.taggers import load_tagger
    tagger, results = find_recipe("crf-lex").load()(tmp_path / "run", profile="smoke", progress=False)
    assert results["technique"] == "crf-lex" and results["sources"] == list(CRF_LEX_SOURCES) and results["leave_out"]
    assert set(results["scores"]) >= {"dev_clean", "test_clean"}
    again = load_tagger(tmp_path / "run")
    assert isinstance(again, LexiconCRFTagger)
    texts = [t.text for t in taobao["dev_clean"][:5]]
    assert again.predict_tags(texts) == tagger.predict_tags(texts)
    (tmp_path / "run" / "tagger" / "lexicon.json").write_text("{}")
    with pytest.raises(CheckpointError): load_tagger(tmp_path / "run")
