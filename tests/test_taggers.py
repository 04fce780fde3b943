import numpy as np
import pytest
import torch

from prodtags.core import CheckpointError, ConfigError, LabelScore, TagSpan, read_json, write_json
from prodtags.loop import TrainConfig, fit
from prodtags.taggers import (CharBigramEmbedding, CharTagger, ProductClassifier, SpanTagger, TaggerModel, load_tagger,
                              tagger_folder)


def test_char_tagger_save_load_predict(tmp_path, toy):
    titles, vocab, tagset, model, loader = toy()
    fit(model, loader, TrainConfig(epochs=6, lr=1e-2), None, None, device="cpu", progress=False)
    tagger = CharTagger(model, vocab, tagset, "cpu")
    tagger.save(tmp_path / "t")
    loaded = CharTagger.load(tmp_path / "t", "cpu")
    texts = [t.text for t in titles[:20]]
    assert loaded.predict(texts) == tagger.predict(texts)
    spans = loaded.predict("新款华为手机")
    assert all(isinstance(s, TagSpan) and 0 <= s.score <= 1 for s in spans)
    assert ("华为", "HPPX") in [(s.text, s.type) for s in spans]
    assert "华为" in loaded.show("新款华为手机")._repr_html_()


def test_predict_bad_input(toy):
    _, vocab, tagset, model, _ = toy()
    tagger = CharTagger(model, vocab, tagset, "cpu")
    assert tagger.predict("") == [] and tagger.predict(["  ", ""]) == [[], []]
    assert len(tagger.predict(["😀华为手机🔥", "Ω" * 500])) == 2  # unknown characters and a long title
    for spans in tagger.predict(["华为 手机 ", " 小米", "\u3000华为\u3000"]):
        assert all(s.text == s.text.strip() and s.text for s in spans)
    with pytest.raises(TypeError, match="Title 1 is a int"):
        tagger.predict(["华为", 3])
    with pytest.raises(TypeError, match="got dict"):
        tagger.predict({"a": 1})


def test_load_tagger_reads_the_declared_kind(tmp_path, toy):
    _, vocab, tagset, model, _ = toy()
    CharTagger(model, vocab, tagset, "cpu").save(tmp_path / "run" / "tagger")
    cfg = read_json(tmp_path / "run" / "tagger" / "config.json")
    assert cfg["kind"] == "span-tagger" and cfg["tagger"] == "prodtags.taggers:CharTagger"
    assert tagger_folder(tmp_path / "run") == tmp_path / "run" / "tagger"
    loaded = load_tagger(tmp_path / "run", "cpu")        # a training output folder works too
    assert isinstance(loaded, CharTagger) and isinstance(loaded, SpanTagger)
    with pytest.raises(ConfigError, match="holds a span-tagger, not a product-classifier"):
        load_tagger(tmp_path / "run", kind="product-classifier")
    folder = tmp_path / "run" / "tagger"
    write_json(folder / "config.json", {**cfg, "tagger": "os:system"})   # config files are data, not code
    with pytest.raises(CheckpointError, match="refusing to load class"):
        load_tagger(folder)
    write_json(folder / "config.json", {**cfg, "tagger": "prodtags.attention:ProductWordClassifier"})
    with pytest.raises(CheckpointError, match="has no SpanTagger called 'ProductWordClassifier'"):
        load_tagger(folder)                            # a class of the other kind is refused
    write_json(folder / "config.json", {k: v for k, v in cfg.items() if k != "kind"})
    with pytest.raises(CheckpointError, match="declares no kind"):
        load_tagger(folder)
    with pytest.raises(CheckpointError, match="No model folder"):
        load_tagger(tmp_path / "nowhere")


class _Words(ProductClassifier):
    "A product classifier by keyword, to test the interface without a model."
    def __init__(self, threshold=0.5, top_k=None):
        super().__init__(None, ["手机", "电脑", "耳机"], threshold, top_k)

    def predict_scores(self, texts, images=None, batch_size=64):
        return np.array([[0.9 if w in t else 0.1 for w in self.labels] for t in texts])

    def save(self, folder, extra=None): raise NotImplementedError

    @classmethod
    def load(cls, folder, device=None): raise NotImplementedError


def test_product_classifier_interface():
    clf = _Words()
    assert clf.predict("华为手机") == [LabelScore("手机", 0.9)]
    assert clf.predict(["手机电脑", "袜子"]) == [[LabelScore("手机", 0.9), LabelScore("电脑", 0.9)], []]
    assert [l.label for l in clf.predict("袜子", top_k=2, threshold=0.0)] == ["手机", "电脑"]
    with pytest.raises(ConfigError, match="reads titles only"):
        clf.predict("华为手机", images="photo.jpg")
    assert "手机" in str(clf.show("华为手机"))


def test_interfaces_are_declared():
    with pytest.raises(TypeError, match="abstract"):
        SpanTagger()                                     # predict_tags, save and load must be written
    with pytest.raises(TypeError, match="abstract"):
        TaggerModel()                                    # emissions must be written


def test_char_bigram_embedding_shapes():
    embed = CharBigramEmbedding(50, 8, bigram_buckets=101, bigram_dim=4)
    out = embed(torch.tensor([[5, 6, 7, 0]]))
    assert out.shape == (1, 4, 16) and embed.out_dim == 16
    assert CharBigramEmbedding(50, 8, bigram_buckets=0)(torch.tensor([[5]])).shape == (1, 1, 8)


class _Fixed(SpanTagger):
    "A span tagger whose per-character confidences are given: enough to check the uncertainty rule."
    def __init__(self, confs): super().__init__(None, "cpu"); self.confs = confs
    def predict_tags(self, texts, batch_size=64):
        return [["O"] * len(t) for t in texts], [self.confs[t] for t in texts]
    def save(self, folder, extra=None): raise NotImplementedError
    @classmethod
    def load(cls, folder, device=None): raise NotImplementedError


def test_uncertainty_ranks_the_weakest_character():
    tagger = _Fixed({"ab": [0.99, 0.4], "cd": [0.7, 0.7], "": []})
    assert tagger.uncertainty(["ab", "cd", ""]) == pytest.approx([0.6, 0.3, 0.0])
    assert tagger.uncertainty("cd") == pytest.approx([0.3])
