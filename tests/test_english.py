"English titles (73_english): OA-Mine as spans, a split without leaks, the registered data name, English tagging."
import io
import json

import pytest

from prodtags.cli import main
from prodtags.core import ConfigError, DataNotFoundError
from prodtags.data import TaggedTitle, load_span_data, spans_to_bio, values_to_spans


@pytest.fixture(scope="module")
def oa():
    "The OA-Mine splits, or a skip when the data is not available offline."
    from prodtags.english import oa_mine_splits
    try: return oa_mine_splits()
    except DataNotFoundError as e: pytest.skip(f"OA-Mine data not available: {e}")


def title(text, spans=()):
    return TaggedTitle(text, tuple(spans_to_bio(list(spans), len(text))))


def test_values_are_placed_longest_first_exact_then_folded_and_unmatched_ones_counted():
    text = "Crocs Women's Ballet Flat, NAVY, Nautical Navy"
    spans, missed = values_to_spans(text, {"Color": ["Nautical Navy", "navy"], "Brand": ["Crocs", "Nike"],
                                           "Size": ["n/a"]})
    assert ("Color", text.index("Nautical Navy"), len(text)) in spans           # the longer value first
    assert ("Color", text.index("NAVY"), text.index("NAVY") + 4) in spans       # case-insensitive fallback
    assert missed == [("Brand", "Nike")]                                        # counted, never dropped silently


def test_conversion_report_accounts_for_every_value(oa):
    from prodtags.english import conversion_report
    r = conversion_report("test")
    assert r["titles"] == 491 and r["values"] == r["spans"] + r["missed"]
    assert r["missed"] == len(r["examples"]["missed"]) or r["missed"] > 3


def test_dedupe_and_grouped_hold_out_keep_copies_together():
    from prodtags.english import dedupe, grouped_hold_out, title_key
    titles = [title(f"Brand{i} Tea  Bags") for i in range(40)] + [title(f"brand{i} tea bags") for i in range(40)]
    assert title_key("Brand1 Tea  Bags") == title_key("brand1 TEA bags\u00a0")
    assert len(dedupe(titles)) == 40
    kept, held = grouped_hold_out(titles, share=0.25)
    assert held and not {title_key(t.text) for t in kept} & {title_key(t.text) for t in held}
    assert len(held) == 2 * len({title_key(t.text) for t in held})              # both copies held out


def test_the_split_never_leaks(oa):
    from prodtags.english import title_key
    splits, leaks = oa
    keys = {s: [title_key(t.text) for t in splits[s]] for s in ("train", "dev_clean", "test_clean")}
    for s, k in keys.items(): assert len(k) == len(set(k)), f"{s} has duplicate titles"
    assert not set(keys["train"]) & set(keys["dev_clean"])
    assert not (set(keys["train"]) | set(keys["dev_clean"])) & set(keys["test_clean"])
    assert leaks["test_in_train_normalised"] == leaks["test_titles"] - leaks["test_clean"] - leaks["test_duplicates"]
    assert leaks["train"] + leaks["dev_clean"] == leaks["train_titles"] - leaks["train_duplicates"]


def test_rare_types_merged_or_dropped_and_registered_name(oa):
    from prodtags.english import OA_MINE_MIN_TRAIN, type_support
    splits, leaks = oa
    data = load_span_data("oa-mine")
    assert data.name == "oa-mine" and list(data.types) == leaks["types_kept"] and "Closure" not in data.types
    support = type_support(splits["train"] + splits["dev_clean"])
    assert min(support[t] for t in data.types) >= OA_MINE_MIN_TRAIN
    assert not {s.type for t in splits["test_clean"] for s in t.spans} - set(data.types)


def test_train_crf_on_oa_mine_through_the_cli(oa, tmp_path, capsys):
    pytest.importorskip("pycrfsuite")
    out = tmp_path / "crf-en"
    assert main(["train", "crf", "--data", "oa-mine", "--profile", "smoke", "--out", str(out),
                 "--results-dir", str(tmp_path / "results")]) == 0
    record = json.loads((tmp_path / "results" / "crf_oa-mine_smoke_seed0.json").read_text())
    assert record["data"] == "oa-mine" and set(record["data_files"]) == {"oa_mine/train.jsonl", "oa_mine/test.jsonl"}
    capsys.readouterr()
    assert main(["tag", "--model", str(out), "--format", "jsonl", "Crocs Women's Ballet Flat, Navy"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "Crocs Women's Ballet Flat, Navy"


def test_detect_language_and_unknown_language():
    from prodtags.recipes import default_recipe, detect_language
    assert detect_language("Crocs Women's Jayna Ballet Flat,Nautical Navy,4 M US") == "en"
    assert detect_language("Café Bustelo Espresso") == "en"
    assert detect_language("苹果iphone15手机壳") == "zh" and detect_language("12345") == "zh"
    with pytest.raises(ConfigError, match="language 'fr'"): default_recipe("fr")


def test_tag_english_titles_with_the_english_default(oa, isolated_cache, capsys, monkeypatch):
    pytest.importorskip("pycrfsuite")
    from prodtags.recipes import default_tagger_dir
    monkeypatch.setenv("PRODTAGS_DEFAULT_TAGGER", "crf")   # the quickest recipe: this tests the path, not the recipe
    english = "Crocs Women's Jayna Ballet Flat,Nautical Navy,4 M US"
    assert main(["tag", "--format", "jsonl", "-"], stdin=io.StringIO(f"\n{english}\n")) == 0   # auto: English
    captured = capsys.readouterr()
    assert [json.loads(line)["text"] for line in captured.out.splitlines()] == ["", english]
    assert "on oa-mine" in captured.err
    folder = default_tagger_dir("smoke", lang="en")
    assert folder.name == "crf-oa-mine-smoke" and (folder / "tagger" / "config.json").is_file()
    assert not default_tagger_dir("smoke", lang="zh").exists()                  # the Chinese default was not trained
    assert main(["tag", "--lang", "en", "Finn Comfort Women's Adana"]) == 0     # reused, not trained again
    assert "No default tagger yet" not in capsys.readouterr().err


def test_minilm_recipe_is_in_the_table():
    from prodtags.recipes import RECIPES
    recipe = RECIPES["minilm-ner"]
    assert recipe.kind == "span-tagger" and recipe.extra == "minilm"
    if not recipe.missing(): assert recipe.load().__name__ == "train_minilm_tagger"
