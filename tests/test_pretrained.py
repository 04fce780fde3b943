"Learning-curve helpers, cached-state probes and Q4 noise of prodtags.pretrained (smoke-sized, a few seconds)."
import pytest
import torch
from torch import nn

pytest.importorskip("transformers")
from prodtags.core import ConfigError
from prodtags.data import TAOBAO_TYPES, TagSet, load_taobao
from prodtags.pretrained import (PROBE_LAYERS, ProbeHead, SampledSettings, StateBatches, add_q4_noise,
                                 alignment_ceiling, encode_titles_frozen, encoder_and_tokenizer, probe_tags,
                                 run_curve_point, sample_titles, scratch_budget, train_probe)


def test_sample_is_seeded_nested_and_the_fine_tuners_draw():
    train = load_taobao("train")
    a, b = sample_titles(train, 50, 0), sample_titles(train, 50, 1)
    assert a == sample_titles(train, 50, 0) and a != b
    assert sample_titles(train, 20, 0) == a[:20]            # smaller samples are prefixes: curves are nested
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:50].tolist()
    assert a == [train[i] for i in order]                   # what train_encoder_tagger draws for max_train_titles=50
    assert len(sample_titles(train, None, 0)) == len(train)


def test_sampled_settings_take_the_sample_for_training_only():
    s = scratch_budget(100, seed=2, profile="cpu")
    assert isinstance(s, SampledSettings) and s.max_train_titles == 100 and s.sample_seed == 2
    train, dev = load_taobao("train"), load_taobao("dev_clean")
    assert s.take(train) == sample_titles(train, 100, 2)
    assert s.take(dev, "eval") == dev                       # evaluation splits are never sampled
    big = scratch_budget(6000, profile="cpu")
    assert s.epochs > big.epochs and s.epochs <= 2 * big.epochs and big.epochs == 20


@pytest.fixture(scope="module")
def states():
    titles = load_taobao("dev_clean")[:12]
    return encode_titles_frozen(titles)                     # no name: not cached


def test_top_layers_on_cached_states_give_the_last_layer(states):
    encoder, _ = encoder_and_tokenizer()
    model = ProbeHead(384, 9, 2, list(encoder.encoder.layer[10:])).eval()
    batch = next(iter(StateBatches(states, PROBE_LAYERS[0], 12, shuffle=False)))
    x, mask = batch["states"].float(), batch["attention_mask"]
    bias = (~mask)[:, None, None, :].float() * torch.finfo(torch.float32).min
    with torch.no_grad():
        for layer in model.layers:
            out = layer(x, attention_mask=bias); x = out[0] if isinstance(out, tuple) else out
    for row, i in enumerate(batch["index"].tolist()):
        ref = states.states[12][i].float()
        assert torch.allclose(x[row, :len(ref)], ref, atol=0.02)
    assert (batch["labels"][~mask] == -100).all()


def test_probe_decodes_as_the_encoder_tagger_with_the_same_head(states):
    from prodtags.bert_ner import EncoderTagger, TokenClassifier
    from prodtags.encoders import trimmed_encoder_path
    torch.manual_seed(0)
    probe = ProbeHead(384, len(TagSet(TAOBAO_TYPES)))
    with torch.no_grad(): probe.head.bias[1:] += 2.0        # a head that predicts entities, so the test has some
    model = TokenClassifier.from_pretrained(trimmed_encoder_path(), len(TagSet(TAOBAO_TYPES)))
    model.hf.classifier.load_state_dict(probe.head.state_dict())
    _, tokenizer = encoder_and_tokenizer()
    tagger = EncoderTagger(model.eval(), tokenizer, TagSet(TAOBAO_TYPES), 128, "cpu")
    expected, _ = tagger.predict_tags([t.text for t in states.titles])
    assert probe_tags(probe, states) == expected


def test_alignment_ceiling_and_training(states):
    assert 0.8 < alignment_ceiling(states) <= 1.0
    model, state = train_probe(states, states, lr=1e-2, epochs=2)
    assert len(state["history"]) == 2 and state["best_epoch"] in (1, 2)
    with pytest.raises(ConfigError, match="encoder"):
        train_probe(states, states, top_k=1)


def test_q4_noise_stays_within_half_a_step_and_spares_vectors():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 4), nn.LayerNorm(4))
    w, b, ln = m[0].weight.clone(), m[0].bias.clone(), m[1].weight.clone()
    add_q4_noise(m)
    d = w.view(-1, 32).abs().amax(1, keepdim=True) / 8
    change = (m[0].weight - w).view(-1, 32).abs()
    assert (change <= d / 2 + 1e-7).all() and change.max() > 0
    assert torch.equal(m[0].bias, b) and torch.equal(m[1].weight, ln)


def test_curve_point_errors_name_the_fix():
    with pytest.raises(ConfigError, match="Unknown curve method"):
        run_curve_point("nope", 16, 0, "unused", "smoke")
    with pytest.raises(ConfigError, match="states"):
        run_curve_point("probe", 16, 0, "unused", "smoke")


def test_any_recipe_with_data_gets_curve_points(tmp_path):
    "The hook for recipes this module does not know: the sample goes in as the training split of a SpanData."
    rec = run_curve_point("char-bilstm", 16, 1, tmp_path, "smoke")
    assert rec["titles"] == 16 and rec["method"] == "char-bilstm"
    assert set(rec["scores"]) == {"dev_clean", "test_clean"} and "overall" in rec["scores"]["test_clean"]
    from prodtags.core import read_json
    trained = read_json(tmp_path / "char-bilstm_n16_seed1" / "results.json")
    assert trained["train_titles"] == 16
