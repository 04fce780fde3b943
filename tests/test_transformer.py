"""Transformer encoder tagger: positions, masks, no leaks between titles, save/load, the command line."""
import io
import json

import pytest
import torch

from prodtags.cli import main
from prodtags.data import TAOBAO_TYPES, TagSet, Vocab, pad_batch
from prodtags.taggers import CharTagger as Tagger, load_tagger
from prodtags.transformer import EncoderBlock, SelfAttention, TransformerTagger, sinusoidal_positions

TAGSET = TagSet(TAOBAO_TYPES)
TITLES = ["华为笔记本电脑", "苹果手机壳", "a", "小米10 pro 手机"]


def test_sinusoidal_positions():
    pe = sinusoidal_positions(10, 8)
    assert pe.shape == (10, 8) and torch.allclose(pe[0, 0::2], torch.zeros(4)) and torch.allclose(pe[0, 1::2], torch.ones(4))
    assert torch.allclose(pe[3, 0], torch.sin(torch.tensor(3.0)))
    with pytest.raises(ValueError):
        sinusoidal_positions(4, 5)


def test_attention_masks_padding_and_batches_do_not_mix():
    torch.manual_seed(0)
    att = SelfAttention(8, 2, dropout=0.0).eval()
    block = EncoderBlock(8, 2, 16, dropout=0.0).eval()
    x = torch.randn(3, 6, 8)
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3, [1] + [0] * 5], dtype=torch.bool)
    out, w = att(x, mask, return_weights=True)
    assert w.shape == (3, 2, 6, 6) and w[1, :, :, 3:].abs().max() == 0 and w[2, :, :, 1:].abs().max() == 0
    assert torch.allclose(w.sum(-1), torch.ones(3, 2, 6), atol=1e-6)
    y = block(x, mask)
    for i, n in enumerate([6, 3, 1]):
        assert torch.allclose(block(x[i:i + 1, :n], mask[i:i + 1, :n]), y[i:i + 1, :n], atol=1e-5)
    x2 = x.clone(); x2[0] += 1
    assert torch.allclose(block(x2, mask)[1:], y[1:], atol=1e-6)


@pytest.mark.parametrize("use_crf", [True, False])
def test_tagger_padding_invariance_and_round_trip(use_crf, tmp_path):
    torch.manual_seed(0)
    vocab = Vocab.build(TITLES)
    model = TransformerTagger(len(vocab), len(TAGSET), TAGSET.labels, dim=16, heads=2, layers=2, bigram_buckets=53,
                              bigram_dim=4, use_crf=use_crf).eval()
    batch = pad_batch([{"input_ids": vocab.encode(t)} for t in TITLES])
    em = model.emissions(batch)
    ids, conf = model.decode(batch)
    assert em.shape == (4, max(map(len, TITLES)), len(TAGSET))
    for i, t in enumerate(TITLES):
        alone = pad_batch([{"input_ids": vocab.encode(t)}])
        assert torch.allclose(em[i, :len(t)], model.emissions(alone)[0], atol=1e-5)
        assert ids[i, :len(t)].tolist() == model.decode(alone)[0][0].tolist()
    _, weights = model.encode(batch, return_weights=True)
    assert len(weights) == 2 and weights[0].shape == (4, 2, em.shape[1], em.shape[1])
    tagger = Tagger(model, vocab, TAGSET, "cpu")
    tagger.save(tmp_path / "t")
    again = load_tagger(tmp_path / "t")
    assert type(again.model) is TransformerTagger and again.model.config["use_crf"] is use_crf
    assert again.predict_tags(TITLES) == tagger.predict_tags(TITLES)


def test_too_long_title_is_a_clear_error():
    model = TransformerTagger(10, len(TAGSET), TAGSET.labels, dim=8, heads=2, layers=1, bigram_buckets=0, max_len=4)
    with pytest.raises(ValueError, match="max_len=4"):
        model.emissions(pad_batch([{"input_ids": [2] * 5}]))


def test_cli_train_and_tag(taobao, tmp_path):
    out = tmp_path / "transformer"
    stdout = io.StringIO()
    assert main(["train", "transformer", "--data", "taobao", "--out", str(out), "--profile", "smoke"], out=stdout) == 0
    assert json.loads(stdout.getvalue())["profile"] == "smoke"
    stdout = io.StringIO()
    assert main(["tag", "--model", str(out), "--format", "jsonl", "苹果手机壳"], out=stdout, stdin=io.StringIO()) == 0
    assert json.loads(stdout.getvalue())["text"] == "苹果手机壳"
