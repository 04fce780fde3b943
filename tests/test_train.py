import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from prodtags.core import CheckpointError, ConfigError, TagSpan, read_json, write_json
from prodtags.data import TagSet, Vocab, encode_titles, make_loader, parse_bio_lines, spans_to_bio
from prodtags.train import (CharBiLSTMTagger, Tagger, TrainConfig, find_trainer, load_tagger, measure_latency,
                            train_char_tagger, write_results, entity_scores, fit, load_model, make_optimizer,
                            save_model, warmup_linear)

TYPES = ["HCCX", "HPPX", "XH", "MISC"]
LABELS = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]

# ---------------------------------------------------------------- metric


def test_hand_worked_example():
    gold = [["B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX", "I-HCCX", "I-HCCX", "I-HCCX", "I-HCCX"]]
    pred = [["B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX", "I-HCCX", "I-HCCX", "I-HCCX", "B-HCCX"]]
    s = entity_scores(gold, pred)
    assert s["overall"] == {"precision": 1 / 3, "recall": 0.5, "f1": pytest.approx(0.4), "support": 2}
    assert s["HPPX"]["f1"] == 1.0 and s["HCCX"]["f1"] == 0.0 and s["HCCX"]["support"] == 1


def test_metric_edge_cases():
    assert entity_scores([["O"]], [["O"]])["overall"]["f1"] == 0.0
    assert entity_scores([["B-XH"]], [["B-XH"]])["overall"]["f1"] == 1.0
    with pytest.raises(ValueError, match="2 gold tags but 1"):
        entity_scores([["O", "O"]], [["O"]])


seqs = st.lists(st.lists(st.sampled_from(LABELS), min_size=1, max_size=12), min_size=1, max_size=8)


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_agrees_with_seqeval(data):
    seqeval = pytest.importorskip("seqeval.metrics")
    gold = data.draw(seqs)
    pred = [data.draw(st.lists(st.sampled_from(LABELS), min_size=len(g), max_size=len(g))) for g in gold]
    ours = entity_scores(gold, pred)["overall"]
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred, zero_division=0))
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred, zero_division=0))
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred, zero_division=0))

# ---------------------------------------------------------------- optimiser and schedule


def test_weight_decay_groups_and_schedule():
    m = CharBiLSTMTagger(20, 9, embed_dim=4, hidden_size=4)
    opt = make_optimizer(m, 1e-3, 0.1)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    factors = [warmup_linear(s, 10, 100) for s in range(100)]
    assert factors[9] == 1.0 and factors[0] == 0.1 and factors[-1] > 0 and warmup_linear(100, 10, 100) == 0.0
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10]))

# ---------------------------------------------------------------- a tiny synthetic task


def _toy_titles(n=120, seed=0):
    "Brands from a fixed list followed by product words: learnable in a few epochs."
    rng = random.Random(seed)
    brands, products = ["华为", "小米", "苹果", "联想"], ["手机", "电脑", "耳机", "手表"]
    lines = []
    for _ in range(n):
        b, p = rng.choice(brands), rng.choice(products)
        text = rng.choice(["", "新款"]) + b + p + rng.choice(["", "正品"])
        start = text.index(b)
        tags = spans_to_bio([("HPPX", start, start + 2), ("HCCX", start + 2, start + 4)], len(text))
        lines += [f"{c} {t}" for c, t in zip(text, tags)] + [""]
    return parse_bio_lines(lines)


def _toy_setup(seed=0, init_seed=None):
    titles = _toy_titles()
    vocab, tagset = Vocab.build(t.text for t in titles), TagSet(TYPES)
    torch.manual_seed(seed if init_seed is None else init_seed)
    model = CharBiLSTMTagger(len(vocab), len(tagset), embed_dim=16, hidden_size=16, dropout=0.2)
    loader = make_loader(encode_titles(titles, vocab, tagset), 16, shuffle=True, seed=seed)
    return titles, vocab, tagset, model, loader


def test_fit_learns_the_toy_task(tmp_path):
    titles, vocab, tagset, model, loader = _toy_setup()
    evaluate = lambda m: {"f1": Tagger(m, vocab, tagset, "cpu").evaluate(titles[:40])["overall"]["f1"]}
    state = fit(model, loader, TrainConfig(epochs=8, lr=1e-2, patience=8), evaluate, tmp_path, device="cpu",
                progress=False)
    assert state["best"] > 0.9, state["history"]
    assert state["history"][0]["train_loss"] > state["history"][-1]["train_loss"]
    assert (tmp_path / "best" / "model.safetensors").is_file() and (tmp_path / "checkpoint" / "state.json").is_file()


def test_resume_continues_exactly(tmp_path):
    cfg = TrainConfig(epochs=3, lr=5e-3, patience=9)
    *_, straight, loader = _toy_setup()
    fit(straight, loader, cfg, None, tmp_path / "a", device="cpu", progress=False)
    *_, interrupted, loader = _toy_setup()
    _run_one_epoch_then_stop(interrupted, loader, cfg, tmp_path / "d")
    *_, resumed, loader = _toy_setup(init_seed=123)  # other weights: all state must come from the checkpoint
    state = fit(resumed, loader, cfg, None, tmp_path / "d", device="cpu", progress=False)
    assert state["epoch"] == 3 and len(state["history"]) == 3
    a = load_file(str(tmp_path / "a" / "checkpoint" / "model.safetensors"))
    d = load_file(str(tmp_path / "d" / "checkpoint" / "model.safetensors"))
    assert all(torch.equal(a[k], d[k]) for k in a)


def _run_one_epoch_then_stop(model, loader, cfg, out):
    "Run `cfg` but stop the process after the first epoch's checkpoint, as Ctrl-C would."
    import prodtags.train as train
    real = train.save_checkpoint
    def save_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt
    train.save_checkpoint = save_then_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            fit(model, loader, cfg, None, out, device="cpu", progress=False)
    finally:
        train.save_checkpoint = real


def test_fit_rejects_bad_config():
    *_, model, loader = _toy_setup()
    with pytest.raises(ConfigError):
        fit(model, loader, TrainConfig(grad_accum=0), progress=False)
    with pytest.raises(ConfigError, match="empty"):
        fit(model, [], TrainConfig(), progress=False)

# ---------------------------------------------------------------- saving, loading, predicting


def test_tagger_save_load_predict(tmp_path):
    titles, vocab, tagset, model, loader = _toy_setup()
    fit(model, loader, TrainConfig(epochs=6, lr=1e-2), None, None, device="cpu", progress=False)
    tagger = Tagger(model, vocab, tagset, "cpu")
    tagger.save(tmp_path / "t")
    loaded = Tagger.load(tmp_path / "t", "cpu")
    texts = [t.text for t in titles[:20]]
    assert loaded.predict(texts) == tagger.predict(texts)
    spans = loaded.predict("新款华为手机")
    assert all(isinstance(s, TagSpan) and 0 <= s.score <= 1 for s in spans)
    assert ("华为", "HPPX") in [(s.text, s.type) for s in spans]


def test_predict_bad_input():
    _, vocab, tagset, model, _ = _toy_setup()
    tagger = Tagger(model, vocab, tagset, "cpu")
    assert tagger.predict("") == [] and tagger.predict(["  ", ""]) == [[], []]
    out = tagger.predict(["😀华为手机🔥", "Ω" * 500])  # unknown characters and a long title
    assert len(out) == 2
    for spans in tagger.predict(["华为 手机 ", " 小米", "\u3000华为\u3000"]):
        assert all(s.text == s.text.strip() and s.text for s in spans)
    with pytest.raises(TypeError, match="Title 1 is a int"):
        tagger.predict(["华为", 3])
    with pytest.raises(TypeError, match="got dict"):
        tagger.predict({"a": 1})


def test_missing_or_corrupt_model_folder(tmp_path):
    with pytest.raises(CheckpointError, match="No model folder"):
        Tagger.load(tmp_path / "nowhere")
    m = CharBiLSTMTagger(10, 9, embed_dim=4, hidden_size=4)
    save_model(m, tmp_path / "m")
    assert load_model(tmp_path / "m", "cpu")[1]["model"] == "char-bilstm"
    with pytest.raises(CheckpointError, match="no vocabulary"):
        Tagger.load(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model(tmp_path / "m")


def test_monitor_must_be_in_evaluate_output():
    *_, model, loader = _toy_setup()
    with pytest.raises(ConfigError, match="returned"):
        fit(model, loader, TrainConfig(epochs=1, monitor="f1"), lambda m: {"accuracy": 1.0}, device="cpu", progress=False)


def test_load_tagger_reads_any_saved_tagger(tmp_path):
    _, vocab, tagset, model, _ = _toy_setup()
    Tagger(model, vocab, tagset, "cpu").save(tmp_path / "t")
    assert read_json(tmp_path / "t" / "config.json")["tagger"] == "prodtags.train:Tagger"
    loaded = load_tagger(tmp_path / "t", "cpu")
    assert isinstance(loaded, Tagger) and loaded.predict("华为手机") == Tagger.load(tmp_path / "t").predict("华为手机")
    cfg = read_json(tmp_path / "t" / "config.json")
    write_json(tmp_path / "t" / "config.json", {**cfg, "tagger": "os:system"})  # config files are data, not code
    with pytest.raises(CheckpointError, match="refusing to import"):
        load_tagger(tmp_path / "t")
    write_json(tmp_path / "t" / "config.json", {**cfg, "tagger": "prodtags.train:NoSuchTagger"})
    with pytest.raises(CheckpointError, match="no tagger class"):
        load_tagger(tmp_path / "t")
    with pytest.raises(CheckpointError, match="No model folder"):
        load_tagger(tmp_path / "nowhere")


def test_trainer_registry_and_results(tmp_path):
    assert find_trainer("char-bilstm") is train_char_tagger
    with pytest.raises(ConfigError, match="No recipe called 'no-such'.*char-bilstm"):
        find_trainer("no-such")
    record = {"technique": "x", "data": "taobao", "profile": "cpu", "seed": 3, "history": [1, 2]}
    path = write_results(record, tmp_path)
    assert path.name == "x_taobao_cpu_seed3.json" and "history" not in read_json(path)


def test_measure_latency_reports_what_it_measured():
    _, vocab, tagset, model, _ = _toy_setup()
    lat = measure_latency(Tagger(model, vocab, tagset, "cpu"), ["华为手机", "小米手环", " "], n_single=10, batch_size=2)
    assert 0 < lat["single_p50_ms"] <= lat["single_p90_ms"] and lat["batch_titles_per_s"] > 0
    assert lat["device"] == "cpu" and lat["batch_size"] == 2
