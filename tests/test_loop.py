import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from prodtags.core import ConfigError
from prodtags.loop import Trainable, TrainConfig, fit, make_optimizer, warmup_linear
from prodtags.recipes import CharBiLSTMTagger
from prodtags.taggers import CharTagger


def test_weight_decay_groups_and_schedule():
    m = CharBiLSTMTagger(20, 9, embed_dim=4, hidden_size=4)
    opt = make_optimizer(m, 1e-3, 0.1)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    factors = [warmup_linear(s, 10, 100) for s in range(100)]
    assert factors[9] == 1.0 and factors[0] == 0.1 and factors[-1] > 0 and warmup_linear(100, 10, 100) == 0.0
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10]))


def test_fit_learns_the_toy_task(tmp_path, toy):
    titles, vocab, tagset, model, loader = toy()
    evaluate = lambda m: {"f1": CharTagger(m, vocab, tagset, "cpu").evaluate(titles[:40])["overall"]["f1"]}
    state = fit(model, loader, TrainConfig(epochs=8, lr=1e-2, patience=8), evaluate, tmp_path, device="cpu",
                progress=False)
    assert state["best"] > 0.9, state["history"]
    assert state["history"][0]["train_loss"] > state["history"][-1]["train_loss"]
    assert (tmp_path / "best" / "model.safetensors").is_file() and (tmp_path / "checkpoint" / "state.json").is_file()


def test_resume_continues_exactly(tmp_path, toy, monkeypatch):
    import prodtags.loop as loop
    cfg = TrainConfig(epochs=3, lr=5e-3, patience=9)
    *_, straight, loader = toy()
    fit(straight, loader, cfg, None, tmp_path / "a", device="cpu", progress=False)
    *_, interrupted, loader = toy()
    real = loop.save_checkpoint
    def save_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt                        # Ctrl-C right after the first epoch's checkpoint
    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, loader, cfg, None, tmp_path / "d", device="cpu", progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", real)
    *_, resumed, loader = toy(init_seed=123)           # other weights: all state must come from the checkpoint
    state = fit(resumed, loader, cfg, None, tmp_path / "d", device="cpu", progress=False)
    assert state["epoch"] == 3 and len(state["history"]) == 3
    a = load_file(str(tmp_path / "a" / "checkpoint" / "model.safetensors"))
    d = load_file(str(tmp_path / "d" / "checkpoint" / "model.safetensors"))
    assert all(torch.equal(a[k], d[k]) for k in a)


def test_fit_rejects_bad_config(toy):
    *_, model, loader = toy()
    with pytest.raises(ConfigError):
        fit(model, loader, TrainConfig(grad_accum=0), progress=False)
    with pytest.raises(ConfigError, match="empty"):
        fit(model, [], TrainConfig(), progress=False)
    with pytest.raises(ConfigError, match="returned"):
        fit(model, loader, TrainConfig(epochs=1, monitor="f1"), lambda m: {"accuracy": 1.0}, device="cpu", progress=False)


def test_fit_declares_what_it_trains(toy):
    *_, model, loader = toy()
    assert isinstance(model, Trainable)
    with pytest.raises(TypeError, match="Linear lacks loss, model_name, config"):
        fit(nn.Linear(2, 2), loader, TrainConfig(epochs=1), progress=False)


def test_a_checkpoint_from_before_a_new_training_setting_still_resumes(tmp_path):
    "A TrainConfig field added later (precision, compile, ...) is absent from older checkpoints: it had its default."
    import json
    from prodtags.loop import TrainConfig, check_resumable
    from prodtags.core import CheckpointError
    ckpt = tmp_path / "checkpoint"; ckpt.mkdir()
    old = {k: v for k, v in json.loads(json.dumps(vars(TrainConfig(seed=3)))).items() if k not in ("precision", "compile")}
    (ckpt / "state.json").write_text(json.dumps({"loop": {"run": {"train": old, "model": None}}}))
    check_resumable(ckpt, {"train": vars(TrainConfig(seed=3)), "model": None})                    # defaults: resumes
    with pytest.raises(CheckpointError, match="precision"):
        check_resumable(ckpt, {"train": vars(TrainConfig(seed=3, precision="bf16")), "model": None})  # a change: refused
