import pytest
import torch

from dataclasses import dataclass

from prodtags.core import (PROFILES, ConfigError, LabelScore, Settings, TagSpan, atomic_dir, atomic_write, autocast_dtype,
                           cache_dir, epoch_seed,
                           get_device, get_profile, read_json, seed_everything, write_json)


def test_profile_from_env_and_argument(monkeypatch):
    monkeypatch.setenv("PRODTAGS_PROFILE", "cpu")
    assert get_profile().name == "cpu"
    assert get_profile("GPU").name == "gpu"
    monkeypatch.delenv("PRODTAGS_PROFILE")
    assert get_profile().name == ("gpu" if torch.cuda.is_available() else "cpu")


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("PRODTAGS_PROFILE", "laptop")
    with pytest.raises(ConfigError, match="smoke, cpu, gpu"):
        get_profile()


@dataclass(frozen=True)
class _Sizes(Settings):
    titles: int | None
    epochs: int = 1
    per_profile = {"smoke": dict(titles=5), "cpu": dict(titles=None, epochs=10), "gpu": dict(titles=None, epochs=40)}


def test_settings_per_profile_with_keywords():
    assert _Sizes.for_profile("smoke") == _Sizes(titles=5, epochs=1)
    assert _Sizes.for_profile("cpu", epochs=3) == _Sizes(titles=None, epochs=3)
    with pytest.raises(ConfigError, match="no field 'epoch'.*epochs"):
        _Sizes.for_profile("cpu", epoch=3)
    with pytest.raises(ConfigError, match="Unknown profile"):
        _Sizes.for_profile("laptop")
    table = _Sizes.profile_table()
    assert "| `titles` | 5 | None | None |" in table and "`smoke`" in table


def test_every_settings_table_covers_every_profile():
    "Each technique's settings build for every profile, from keywords only."
    import importlib
    for module, name in [("prodtags.recipes", "TaggerSettings"), ("prodtags.gan", "GanSettings"),
                         ("prodtags.multimodal", "FusionSettings")]:
        cls = getattr(importlib.import_module(module), name)
        for profile in PROFILES:
            assert isinstance(cls.for_profile(profile), cls)
            assert all(isinstance(k, str) for k in cls.per_profile[profile])


def test_epoch_seeds_never_collide():
    seeds = {epoch_seed(s, e) for s in range(5) for e in range(100)}
    assert len(seeds) == 500


def test_label_score_checks_its_values():
    assert LabelScore("连衣裙", 0.9).to_dict() == {"label": "连衣裙", "score": 0.9}
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        LabelScore("连衣裙", 1.5)
    with pytest.raises(ValueError, match="non-empty"):
        LabelScore("", 0.5)


def test_device_selection(monkeypatch):
    monkeypatch.setenv("PRODTAGS_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert autocast_dtype(torch.device("cpu")) is None
    with pytest.raises(ConfigError):
        get_device("tpu-of-dreams")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            get_device("cuda")


def test_seed_repeats():
    seed_everything(3); a = torch.randn(4)
    seed_everything(3); b = torch.randn(4)
    assert torch.equal(a, b)


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODTAGS_CACHE", str(tmp_path / "c"))
    assert cache_dir("x") == tmp_path / "c" / "x" and (tmp_path / "c" / "x").is_dir()


def test_atomic_write_and_json(tmp_path):
    p = write_json(tmp_path / "a" / "b.json", {"标签": [1, 2]})
    assert read_json(p) == {"标签": [1, 2]}
    assert "标签" in p.read_text(encoding="utf-8")  # readable, not \u-escaped
    atomic_write(p, b"new")
    assert p.read_bytes() == b"new"
    assert [x.name for x in tmp_path.joinpath("a").iterdir()] == ["b.json"]  # no temp files left


def test_atomic_dir_keeps_old_on_failure(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "w").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as d:
            (d / "w").write_text("half")
            raise RuntimeError("crash mid-save")
    assert (target / "w").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with atomic_dir(target) as d:
        (d / "w").write_text("v2")
    assert (target / "w").read_text() == "v2"


def test_tagspan_validates():
    s = TagSpan.from_title("华为手机", "HPPX", 0, 2, 0.5)
    assert s.text == "华为" and s.to_dict() == {"text": "华为", "type": "HPPX", "start": 0, "end": 2, "score": 0.5}
    for bad in [dict(text="华", type="X", start=0, end=2), dict(text="", type="X", start=1, end=1),
                dict(text="华", type="X", start=0, end=1, score=1.5)]:
        with pytest.raises(ValueError):
            TagSpan(**bad)
    with pytest.raises(ValueError, match="past the end"):
        TagSpan.from_title("华为", "HPPX", 0, 5)


def test_progress_setting(monkeypatch):
    from prodtags.core import show_progress
    monkeypatch.delenv("PRODTAGS_PROGRESS", raising=False)
    assert show_progress() and not show_progress(False)
    monkeypatch.setenv("PRODTAGS_PROGRESS", "0")
    assert not show_progress() and show_progress(True)
