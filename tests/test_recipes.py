import sys

import pytest

from prodtags.core import ConfigError, MissingExtraError, read_json
from prodtags.display import headline
from prodtags.recipes import (RECIPES, Recipe, TaggerSettings, find_recipe, measure_latency, register_recipe,
                              train_char_tagger, write_results)
from prodtags.taggers import CharTagger


def test_recipe_table_finds_and_loads_recipes():
    assert find_recipe("char-bilstm").load() is train_char_tagger
    with pytest.raises(ConfigError, match="No recipe called 'no-such'.*char-bilstm"):
        find_recipe("no-such")
    for recipe in RECIPES.values():
        assert recipe.kind in ("span-tagger", "product-classifier") and ":" in recipe.target


def test_a_missing_extra_is_named_before_anything_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycrfsuite", None)            # as if python-crfsuite were not installed
    recipe = find_recipe("crf")
    assert recipe.missing() == ["pycrfsuite"] and recipe.status() == "needs pip install 'prodtags[crf]'"
    with pytest.raises(MissingExtraError, match=r"'crf' extra .*pip install 'prodtags\[crf\]'"):
        recipe.load()
    assert find_recipe("char-bilstm").status() == "available"


def test_results_records_and_headline(tmp_path):
    record = {"technique": "x", "data": "taobao", "profile": "cpu", "seed": 3, "history": [1, 2],
              "scores": {"test_clean": {"overall": {"f1": 0.5}}}}
    path = write_results(record, tmp_path)
    assert path.name == "x_taobao_cpu_seed3.json" and "history" not in read_json(path)
    assert headline(record) == "test_clean F1 50.0"
    assert headline({"scores": {"test_clean": {"micro_f1": 0.852}}}) == "test_clean micro F1 85.2"


def test_tagger_settings_take():
    smoke = TaggerSettings.for_profile("smoke")
    assert smoke.take(list(range(1000))) == list(range(smoke.max_train_titles))
    assert TaggerSettings.for_profile("cpu").take(list(range(1000)), "eval") == list(range(1000))


def test_measure_latency_reports_what_it_measured(toy):
    _, vocab, tagset, model, _ = toy()
    lat = measure_latency(CharTagger(model, vocab, tagset, "cpu"), ["华为手机", "小米手环", " "], n_single=10, batch_size=2)
    assert 0 < lat["single_p50_ms"] <= lat["single_p90_ms"] and lat["batch_titles_per_s"] > 0
    assert lat["device"] == "cpu" and lat["batch_size"] == 2


def test_the_default_is_the_quick_best_this_install_can_train(monkeypatch):
    from prodtags import recipes
    monkeypatch.delenv("PRODTAGS_DEFAULT_TAGGER", raising=False)
    expected = "crf-lex" if not recipes.find_recipe("crf-lex").missing() else "char-bilstm"
    assert recipes.default_recipe().name == expected
    monkeypatch.setattr(recipes.Recipe, "missing", lambda self: ["pycrfsuite"] if self.extra else [])
    assert recipes.default_recipe().name == "char-bilstm" and recipes.default_recipe("en").name == "char-bilstm"
    monkeypatch.setenv("PRODTAGS_DEFAULT_TAGGER", "bilstm-crf")
    assert recipes.default_recipe().name == "bilstm-crf"
