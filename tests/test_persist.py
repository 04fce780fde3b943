import pytest
import torch
from torch import nn

from prodtags.core import CheckpointError
from prodtags.persist import ConfiguredModule, class_path, import_class, load_model, read_config, save_model
from prodtags.recipes import CharBiLSTMTagger


def test_save_and_load_round_trip(tmp_path):
    m = CharBiLSTMTagger(10, 9, embed_dim=4, hidden_size=4)
    save_model(m, tmp_path / "m", {"note": "x"})
    meta = read_config(tmp_path / "m")
    assert meta["model"] == "prodtags.recipes:CharBiLSTMTagger" and meta["note"] == "x"
    loaded, _ = load_model(tmp_path / "m", "cpu")
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), loaded.state_dict().values()))


def test_a_class_defined_outside_prodtags_cannot_be_saved(tmp_path):
    class Local(ConfiguredModule):
        def __init__(self):
            super().__init__()
            self.w = nn.Linear(2, 2)
    Local.__module__ = "__main__"                      # what a class defined while a notebook runs looks like
    with pytest.raises(CheckpointError, match="defined in a notebook or script.*from prodtags"):
        save_model(Local(), tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert class_path(CharBiLSTMTagger) == "prodtags.recipes:CharBiLSTMTagger"


def test_only_prodtags_classes_are_imported(tmp_path):
    with pytest.raises(CheckpointError, match="refusing to load class 'os:system'"):
        import_class("os:system", object, tmp_path)
    with pytest.raises(CheckpointError, match="has no ConfiguredModule called 'NoSuch'"):
        import_class("prodtags.recipes:NoSuch", ConfiguredModule, tmp_path)
    with pytest.raises(CheckpointError, match="has no ConfiguredModule"):   # exists, but is not a model class
        import_class("prodtags.recipes:train_char_tagger", ConfiguredModule, tmp_path)


def test_missing_or_corrupt_model_folder(tmp_path):
    with pytest.raises(CheckpointError, match="No model folder"):
        load_model(tmp_path / "nowhere")
    save_model(CharBiLSTMTagger(10, 9, embed_dim=4, hidden_size=4), tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"model": "prodtags.recipes:CharBiLSTMTagger"}')
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model(tmp_path / "m")
