"""Masked additive attention and the product-word classifier: masks, metrics, save/load."""
import numpy as np
import pytest
import torch

from prodtags.attention import (AdditiveAttention, AttentionPoolClassifier, ProductWordClassifier, 
                                masked_softmax, multilabel_scores, multilabel_targets, top_product_words)
from prodtags.core import CheckpointError
from prodtags.data import TaggedTitle, Vocab, hashed_bigrams


def test_masked_softmax_zero_on_padding():
    s = torch.randn(2, 4)
    m = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    p = masked_softmax(s, m)
    assert torch.allclose(p[0, :2].sum(), torch.tensor(1.0)) and p[0, 2:].abs().max() == 0
    assert p[1].abs().max() == 0  # no real position: all zeros, not NaN


def test_additive_attention_padding_invariance():
    torch.manual_seed(0)
    att = AdditiveAttention(5, 7, 6)
    keys, q = torch.randn(3, 6, 7), torch.randn(3, 2, 5)
    mask = torch.arange(6)[None] < torch.tensor([6, 4, 1])[:, None]
    ctx, w = att(q, keys, mask)
    assert ctx.shape == (3, 2, 7) and w.shape == (3, 2, 6)
    for i, n in enumerate([6, 4, 1]):
        c, _ = att(q[i:i + 1], keys[i:i + 1, :n], mask[i:i + 1, :n])
        assert torch.allclose(c, ctx[i:i + 1], atol=1e-6)
    junk = keys.clone(); junk[~mask] = 100.0
    assert torch.allclose(att(q, junk, mask)[0], ctx, atol=1e-5)


def test_hashed_bigrams_ignore_batch_padding():
    ids = torch.tensor([[5, 6, 7, 0], [5, 6, 0, 0]])
    left, right = hashed_bigrams(ids, 1000)
    assert ((left >= 1) & (left < 1000)).all() and left[0, :2].tolist() == left[1, :2].tolist()
    alone_l, alone_r = hashed_bigrams(ids[1:, :2], 1000)
    assert alone_l[0].tolist() == left[1, :2].tolist() and alone_r[0].tolist() == right[1, :2].tolist()


def test_multilabel_scores_hand_example():
    y = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    p = np.array([[0.9, 0.2, 0.1], [0.6, 0.4, 0.7], [0.1, 0.1, 0.8]])
    s = multilabel_scores(y, p, 0.5, ks=(1, 2))
    assert s["micro_precision"] == 0.5 and s["micro_recall"] == pytest.approx(2 / 3)
    assert s["micro_f1"] == pytest.approx(4 / 7)
    # per tag F1: tag0 tp1 fp1 -> 2/3; tag1 fn1 -> 0; tag2 tp1 fp1 -> 2/3
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    assert s["precision_at_1"] == 1.0 and s["precision_at_2"] == 0.5 and s["titles_with_tags"] == 2


def test_top_product_words_and_targets():
    t = [TaggedTitle("华为手机", ("B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX")),
         TaggedTitle("手机壳手机", ("B-HCCX", "I-HCCX", "O", "B-HCCX", "I-HCCX")),
         TaggedTitle("电脑", ("B-HCCX", "I-HCCX"))]
    tags = top_product_words(t, 2)
    assert tags == ["手机", "电脑"]  # 手机 in 2 titles (counted once per title), then 电脑
    assert multilabel_targets(t, tags).tolist() == [[1, 0], [1, 0], [0, 1]]


def test_classifier_round_trip(tmp_path):
    torch.manual_seed(0)
    vocab = Vocab.build(["华为手机壳", "儿童玩具"])
    model = AttentionPoolClassifier(len(vocab), 3, dim=8, attn_dim=4, bigram_buckets=31, bigram_dim=2)
    clf = ProductWordClassifier(model, vocab, ["手机", "玩具", "电脑"], 0.4, "cpu")
    texts = ["华为手机壳", "儿童玩具", "", "x"]
    probs = clf.predict_scores(texts)
    assert probs.shape == (4, 3) and ((probs > 0) & (probs < 1)).all()
    assert clf.attention("华为手机壳").shape == (3, 5)
    assert np.allclose(clf.attention("华为手机壳").sum(1), 1, atol=1e-5)
    assert len(clf.predict("华为手机壳", top_k=2)) == 2
    clf.save(tmp_path / "c")
    again = ProductWordClassifier.load(tmp_path / "c")
    assert again.tags == clf.tags and again.threshold == 0.4
    assert np.allclose(again.predict_scores(texts), probs, atol=1e-6)
    (tmp_path / "c" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError):
        ProductWordClassifier.load(tmp_path / "c")
