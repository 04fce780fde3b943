"""BiLSTM-CRF and the crfsuite anchor: shapes, padding, save/load, the command line."""
import io
import json

import pytest
import torch

from prodtags.cli import main
from prodtags.core import CheckpointError
from prodtags.data import TAOBAO_TYPES, TagSet, Vocab, encode_titles, pad_batch
from prodtags.rnn import BiLSTMCRF, CRFSuiteTagger, char_ngram_features
from prodtags.taggers import CharTagger as Tagger, load_tagger

TAGSET = TagSet(TAOBAO_TYPES)
TITLES = ["华为笔记本电脑", "苹果手机壳", "a", "小米10 pro 手机"]


def tiny(attention=False, **kw):
    torch.manual_seed(0)
    vocab = Vocab.build(TITLES)
    return vocab, BiLSTMCRF(len(vocab), len(TAGSET), TAGSET.labels, embed_dim=8, bigram_buckets=97, bigram_dim=4,
                            hidden_size=6, attention=attention, **kw).eval()


@pytest.mark.parametrize("attention", [False, True])
def test_shapes_and_padding_invariance(attention):
    vocab, model = tiny(attention)
    batch = pad_batch([{"input_ids": vocab.encode(t)} for t in TITLES])
    em = model.emissions(batch)
    assert em.shape == (4, max(map(len, TITLES)), len(TAGSET))
    ids, conf = model.decode(batch)
    for i, t in enumerate(TITLES):
        alone = pad_batch([{"input_ids": vocab.encode(t)}])
        a_ids, a_conf = model.decode(alone)
        assert torch.allclose(em[i, :len(t)], model.emissions(alone)[0], atol=1e-5)
        assert ids[i, :len(t)].tolist() == a_ids[0].tolist()
        assert torch.allclose(conf[i, :len(t)], a_conf[0], atol=1e-5)
    assert ((conf >= 0) & (conf <= 1)).all()


def test_loss_trains_and_respects_bio(taobao):
    titles = taobao["train"][:16]
    vocab = Vocab.build(t.text for t in titles)
    torch.manual_seed(0)
    model = BiLSTMCRF(len(vocab), len(TAGSET), TAGSET.labels, embed_dim=16, bigram_buckets=101, bigram_dim=4, hidden_size=16)
    batch = pad_batch(encode_titles(titles, vocab, TAGSET))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch).item()
    for _ in range(15):
        opt.zero_grad(); loss = model.loss(batch); loss.backward(); opt.step()
    assert loss.item() < first
    model.eval()
    tags, _ = Tagger(model, vocab, TAGSET).predict_tags([t.text for t in titles])
    for seq in tags:  # Viterbi under BIO constraints never produces I-X after O or after another type
        assert not seq[0].startswith("I-")
        assert all(not (c.startswith("I-") and (p == "O" or p[2:] != c[2:])) for p, c in zip(seq, seq[1:]))


def test_tagger_save_load_round_trip(tmp_path):
    vocab, model = tiny(attention=True)
    tagger = Tagger(model, vocab, TAGSET, "cpu")
    tagger.save(tmp_path / "t")
    again = load_tagger(tmp_path / "t")
    assert type(again.model) is BiLSTMCRF and again.model.config["attention"] is True
    assert again.predict_tags(TITLES) == tagger.predict_tags(TITLES)


def test_char_ngram_features():
    f = char_ngram_features("华为P4")
    assert len(f) == 4 and "u0=p" in f[2] and "b-1=为p" in f[2] and "t=为p4" in f[2] and "BOS" in f[0] and "EOS" in f[3]
    assert "k0=digit" in f[3] and "k0=han" in f[0] and "k0=latin" in f[2]


def test_crfsuite_tagger_train_save_load(taobao, tmp_path):
    tagger = CRFSuiteTagger.train(taobao["train"][:60], max_iterations=5, model_path=tmp_path / "m.crfsuite")
    assert tagger.num_parameters() > 0
    tags, confs = tagger.predict_tags(["华为手机", ""])
    assert len(tags[0]) == 4 and tags[1] == [] and all(0 <= c <= 1 for c in confs[0])
    tagger.save(tmp_path / "crf")
    again = load_tagger(tmp_path / "crf")
    assert isinstance(again, CRFSuiteTagger)
    assert again.predict_tags(["华为手机壳"]) == tagger.predict_tags(["华为手机壳"])
    (tmp_path / "crf" / "model.crfsuite").unlink()
    with pytest.raises(CheckpointError, match="no model.crfsuite"):
        load_tagger(tmp_path / "crf")


def run(argv, stdin=""):
    out = io.StringIO()
    return main(argv, out=out, stdin=io.StringIO(stdin)), out.getvalue()


@pytest.mark.parametrize("recipe", ["crf", "bilstm-crf"])
def test_cli_train_tag_eval(recipe, taobao, tmp_path):
    out = tmp_path / recipe
    code, text = run(["train", recipe, "--data", "taobao", "--out", str(out), "--profile", "smoke"])
    assert code == 0, text
    summary = json.loads(text)
    assert summary["profile"] == "smoke" and summary["technique"] == recipe and summary["headline"].startswith("test_clean F1")
    record = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for key in ("technique", "data", "seed", "profile", "device", "torch", "threads", "date", "parameters",
                "train_titles", "train_seconds", "scores", "cpu_latency"):
        assert key in record, key
    assert record["technique"] == recipe and record["scores"]["test_clean"]["overall"]["support"] > 0
    code, text = run(["tag", "--model", str(out), "--format", "jsonl", "华为p40手机壳"])
    row = json.loads(text)
    assert code == 0 and row["text"] == "华为p40手机壳"
    for tag in row["tags"]:
        assert row["text"][tag["start"]:tag["end"]] == tag["text"] and 0 <= tag["score"] <= 1
    f = tmp_path / "gold.txt"
    f.write_text("华 B-HPPX\n为 I-HPPX\n手 B-HCCX\n机 I-HCCX\n", encoding="utf-8")
    code, text = run(["eval", str(f), "--model", str(out)])
    assert code == 0 and "overall" in json.loads(text)
