import io
import json

import pytest

from prodtags.cli import main


def run(argv, stdin=""):
    out = io.StringIO()
    code = main(argv, out=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, taobao):
    "A char-bilstm trained by the CLI in the smoke profile."
    out = tmp_path_factory.mktemp("cli") / "char-bilstm"
    code, text = run(["train", "char-bilstm", "--data", "taobao", "--out", str(out), "--profile", "smoke"])
    assert code == 0, text
    summary = json.loads(text)
    assert summary["profile"] == "smoke" and summary["technique"] == "char-bilstm"
    assert summary["headline"].startswith("test_clean F1 ")
    return out


def test_info_lists_settings():
    code, text = run(["info"])
    assert code == 0 and "profile" in text and "PRODTAGS_DATA" in text


def test_tag_arguments_table_and_jsonl(trained):
    code, text = run(["tag", "--model", str(trained), "华为笔记本电脑", "苹果手机壳"])
    assert code == 0 and text.startswith("华为笔记本电脑")
    code, text = run(["tag", "--model", str(trained / "tagger"), "--format", "jsonl"], stdin="华为手机\n\n")
    rows = [json.loads(line) for line in text.splitlines()]
    assert code == 0 and [r["text"] for r in rows] == ["华为手机", ""]
    assert rows[1]["tags"] == []
    for tag in rows[0]["tags"]:
        assert set(tag) == {"text", "type", "start", "end", "score"}
        assert rows[0]["text"][tag["start"]:tag["end"]] == tag["text"]


def test_tag_from_file(trained, tmp_path):
    f = tmp_path / "titles.txt"
    f.write_text("华为手机\n小米电视\n", encoding="utf-8")
    code, text = run(["tag", "--model", str(trained), "--file", str(f), "--format", "jsonl"])
    assert code == 0 and len(text.splitlines()) == 2


def test_eval_prints_per_type_json(trained, tmp_path):
    f = tmp_path / "gold.txt"
    f.write_text("华 B-HPPX\r\n为 I-HPPX\r\n手 B-HCCX\r\n机 I-HCCX\r\n", encoding="utf-8")
    code, text = run(["eval", "--model", str(trained), str(f)])
    report = json.loads(text)
    assert code == 0 and report["titles"] == 1 and set(report["overall"]) == {"precision", "recall", "f1", "support"}
    assert report["overall"]["support"] == 2


def test_errors_exit_2_with_one_line(trained, tmp_path, capsys):
    assert run(["tag", "--model", str(tmp_path / "nowhere"), "华为"])[0] == 2
    assert "No model folder" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("华为 B-HPPX\n", encoding="utf-8")
    assert run(["eval", "--model", str(trained), str(bad)])[0] == 2
    assert "bad.txt:1" in capsys.readouterr().err
    assert run(["train", "no-such-model", "--out", str(tmp_path)])[0] == 2
    assert "No recipe called 'no-such-model'; known: " in capsys.readouterr().err


def test_tag_without_model_trains_the_default_once(isolated_cache, taobao, capsys):
    assert main(["tag", "--format", "jsonl", "华为手机"], stdin=io.StringIO()) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["text"] for line in captured.out.splitlines()] == ["华为手机"]  # training chatter stays off stdout
    assert "No default tagger yet" in captured.err
    from prodtags.recipes import default_recipe
    assert (isolated_cache / "taggers" / f"{default_recipe().name}-smoke" / "tagger" / "config.json").is_file()
    code, _ = run(["tag", "小米电视"])
    assert code == 0 and "No default tagger yet" not in capsys.readouterr().err


def test_list_finds_saved_taggers(trained, tmp_path):
    code, text = run(["list", str(trained.parent)])
    assert code == 0 and "char-bilstm" in text and str(trained / "tagger") in text
    code, text = run(["list", str(tmp_path / "empty")])
    assert code == 0 and "No saved taggers" in text


def test_image_needs_a_multimodal_tagger(trained, capsys):
    assert run(["tag", "--model", str(trained), "--image", "photo.jpg", "华为手机"])[0] == 2
    assert "span tagger and reads titles only" in capsys.readouterr().err


def test_train_prints_progress_on_stderr_and_one_json_line_on_stdout(trained, capsys):
    code, text = run(["train", "char-bilstm", "--out", str(trained), "--profile", "smoke"])  # resumes: only re-scores
    assert code == 0 and len(text.splitlines()) == 1 and json.loads(text)["out"].endswith("tagger")
    assert "Resuming" in capsys.readouterr().err


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    "A small product-word classifier saved where `list` and `tag` can find it."
    import torch
    from prodtags.attention import AttentionPoolClassifier, ProductWordClassifier
    from prodtags.data import Vocab
    torch.manual_seed(0)
    vocab = Vocab.build(["华为手机壳", "连衣裙"])
    model = AttentionPoolClassifier(len(vocab), 2, dim=8, attn_dim=4, bigram_buckets=31, bigram_dim=2)
    folder = tmp_path_factory.mktemp("clf") / "attention-pool" / "tagger"
    ProductWordClassifier(model, vocab, ["手机壳", "连衣裙"], 0.0, "cpu").save(
        folder, {"results": {"technique": "attention-pool", "scores": {"test_clean": {"micro_f1": 0.5}}}})
    return folder


def test_both_kinds_through_list_and_tag(trained, classifier, tmp_path, capsys):
    import shutil
    root = tmp_path / "models"
    shutil.copytree(trained, root / "char-bilstm")
    shutil.copytree(classifier, root / "attention-pool" / "tagger")
    (root / "encoder").mkdir()
    (root / "encoder" / "config.json").write_text('{"hidden_size": 384, "model_type": "bert"}')  # not a tagger
    (root / "junk").mkdir()
    (root / "junk" / "config.json").write_text("{broken")
    code, text = run(["list", str(root)])
    lines = text.splitlines()
    assert code == 0 and len(lines) == 2, text
    assert any("char-bilstm" in l and "span-tagger" in l and "test_clean F1" in l for l in lines)
    assert any("attention-pool" in l and "product-classifier" in l and "micro F1 50.0" in l for l in lines)
    code, text = run(["tag", "--model", str(root / "attention-pool"), "--format", "jsonl", "华为手机壳"])
    row = json.loads(text)
    assert code == 0 and [l["label"] for l in row["labels"]] and set(row["labels"][0]) == {"label", "score"}
    code, text = run(["tag", "--model", str(root / "attention-pool"), "华为手机壳"])
    assert code == 0 and text.startswith("华为手机壳\n  0.")
    code, text = run(["tag", "--model", str(root / "char-bilstm"), "--format", "jsonl", "华为手机壳"])
    assert code == 0 and "tags" in json.loads(text)
    assert run(["tag", "--model", str(root / "encoder"), "华为"])[0] == 2      # declares no kind: refused
    assert "declares no kind" in capsys.readouterr().err
    (tmp_path / "gold.txt").write_text("华 B-HPPX\n为 I-HPPX\n", encoding="utf-8")
    assert run(["eval", "--model", str(root / "attention-pool"), str(tmp_path / "gold.txt")])[0] == 2
    assert "eval scores span taggers" in capsys.readouterr().err


def test_bugs_are_not_turned_into_exit_2(monkeypatch):
    import prodtags.cli as cli
    def broken(*args): raise TypeError("a bug")
    monkeypatch.setattr(cli, "cmd_info", broken)
    with pytest.raises(TypeError, match="a bug"):
        main(["info"])


def test_train_on_an_annotated_span_file_then_eval_on_one(taobao, tmp_path):
    "annotate -> export -> train -> eval: a JSON-lines span file is training data for any span-tagger recipe."
    pytest.importorskip("pycrfsuite")
    from prodtags.data import write_span_file
    annotated = write_span_file(tmp_path / "annotated.jsonl", taobao["train"][:60])
    out = tmp_path / "crf"
    code, text = run(["train", "crf", "--data", str(annotated), "--out", str(out), "--profile", "smoke"])
    assert code == 0, text
    record = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert record["data"] == "file-annotated" and "annotated.jsonl" in record["data_files"]
    assert record["train_titles"] < 60 and set(record["scores"]) == {"dev_clean", "test_clean"}
    gold = write_span_file(tmp_path / "gold.jsonl", taobao["test_clean"][:5])
    code, text = run(["eval", "--model", str(out), str(gold)])
    assert code == 0 and json.loads(text)["titles"] == 5


def test_train_data_errors_name_the_fix(tmp_path, capsys):
    code, _ = run(["train", "crf", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")])
    assert code == 2 and "neither a known data set" in capsys.readouterr().err
    code, _ = run(["train", "attention-pool", "--data", str(tmp_path / "x.jsonl"), "--out", str(tmp_path / "o")])
    assert code == 2 and "trains on Taobao only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_train_without_data_leaves_the_recipe_its_own_default(tmp_path, monkeypatch):
    "No --data: the recipe's own default (minilm-ner's is OA-Mine), not Taobao; --data NAME passes the loaded data."
    import prodtags.recipes as recipes
    from prodtags.data import SpanData
    calls = []
    def fake_train(out, **kwargs):
        calls.append(kwargs)
        return None, {"technique": "fake", "profile": "smoke", "device": "cpu", "scores": {}}
    fake = recipes.Recipe("fake-span", "x:y", "span-tagger", "a recipe that records its arguments")
    monkeypatch.setattr(recipes.Recipe, "load", lambda self: fake_train)
    monkeypatch.setattr(recipes, "find_recipe", lambda name: fake)
    monkeypatch.setattr("prodtags.display.headline", lambda results: "-")
    assert run(["train", "fake-span", "--out", str(tmp_path / "a")])[0] == 0
    assert "data" not in calls[-1]
    monkeypatch.setattr("prodtags.data.load_span_data", lambda data: f"loaded {data}")
    assert run(["train", "fake-span", "--data", "oa-mine", "--out", str(tmp_path / "b")])[0] == 0
    assert calls[-1]["data"] == "loaded oa-mine"


def test_weak_recipes_take_taobao_by_name_or_as_span_data(taobao, tmp_path):
    "The CLI hands recipes loaded SpanData: the weakly supervised ones accept Taobao's and name any other in one line."
    pytest.importorskip("pycrfsuite")
    from prodtags.core import ConfigError
    from prodtags.data import load_span_data
    from prodtags.fewer_labels import train_crf_distant
    data = load_span_data("taobao")
    other = type(data)("file-mine", data.types, data.train[:5], {s: data.evals[s][:5] for s in ("dev_clean", "test_clean")})
    with pytest.raises(ConfigError, match="Taobao only \\(got data 'file-mine'\\)"):
        train_crf_distant(tmp_path / "x", "smoke", data=other)
    code, text = run(["train", "crf-distant", "--data", "taobao", "--out", str(tmp_path / "d"), "--profile", "smoke"])
    assert code == 0 and json.loads(text)["technique"] == "crf-distant-weak", text
