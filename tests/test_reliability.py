"""Whatever folder, file or text a user points prodtags at: it works, or says in one line what is wrong.

One test (or more) per weakness found by trying the library as a new user and as an attacker would; the names say
which promise each test keeps. The hypothesis tests at the end cover the readers of BIO files, of config.json and of
the command line's titles."""
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unicodedata
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodtags.cli import find_taggers, main
from prodtags.core import (CheckpointError, ChecksumError, ConfigError, DataFormatError, ProdtagsError,
                           ProdtagsWarning, atomic_dir, write_json)
from prodtags.data import (DATA_ENV, DATA_FILES, decode_lines, data_path, grapheme_starts, parse_bio_lines,
                           read_bio_file, spans_to_bio, tag_spans)
from prodtags.loop import TrainConfig, fit
from prodtags.persist import load_checkpoint, load_model, output_lock, read_config, save_checkpoint
from prodtags.taggers import MAX_TITLE_CHARS, CharTagger, SpanTagger, load_tagger



def toy_titles(n=60, seed=0):
    "Brand + product-word titles (the toy task of tests/conftest.py, small)."
    import random
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        b, w = rng.choice(["华为", "小米", "苹果"]), rng.choice(["手机", "电脑", "耳机"])
        text = rng.choice(["", "新款"]) + b + w
        start = text.index(b)
        tags = spans_to_bio([("HPPX", start, start + 2), ("HCCX", start + 2, start + 4)], len(text))
        lines += [f"{c} {t}" for c, t in zip(text, tags)] + [""]
    return parse_bio_lines(lines)

FIXED = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def run(argv, stdin=""):
    "The CLI in this process: (exit status, stdout)."
    out = io.StringIO()
    return main(argv, out=out, stdin=io.StringIO(stdin) if isinstance(stdin, str) else stdin), out.getvalue()


def records(text: str) -> list[str]:
    "JSON lines of the CLI's output (lines end at \\n only: a title may hold U+2028, which JSON leaves as it is)."
    return [line for line in text.split("\n") if line]


def run_bytes(argv, data: bytes):
    "The CLI with `data` as the bytes of standard input (as a terminal pipe gives them)."
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
    return run(argv, stdin)


def cli_process(args, timeout=120, **kw):
    "The CLI in a child process, so that a crash of native code shows as an exit status instead of killing pytest."
    code = "import sys; from prodtags.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PRODTAGS_PROGRESS": "0"}, **kw)


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture()
def char_tagger(tmp_path, toy):
    "A small char-BiLSTM tagger trained on the toy titles and saved: (tagger, folder)."
    titles, vocab, tagset, model, loader = toy()
    fit(model, loader, TrainConfig(epochs=3, lr=1e-2), None, None, device="cpu", progress=False)
    tagger = CharTagger(model, vocab, tagset, "cpu")
    return tagger, tagger.save(tmp_path / "char" / "tagger")


@pytest.fixture()
def crf_folder(tmp_path):
    "A crfsuite tagger trained on the toy titles and saved."
    pytest.importorskip("pycrfsuite")
    from prodtags.rnn import CRFSuiteTagger
    tagger = CRFSuiteTagger.train(toy_titles(60), max_iterations=10, model_path=tmp_path / "train.crfsuite")
    return tagger.save(tmp_path / "crf" / "tagger")


def edit_config(folder, change):
    path = folder / "config.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta = change(meta)
    path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


# 1. A damaged crfsuite model never reaches crfsuite's C parser ---------------------------------------------------
def test_cut_crfsuite_model_is_refused_in_one_line_not_a_crash(crf_folder):
    model = crf_folder / "model.crfsuite"
    data = model.read_bytes()
    model.write_bytes(data[:100])                                   # an interrupted copy
    r = cli_process(["tag", "--model", crf_folder, "华为手机"])
    assert r.returncode == 2 and one_line(r.stderr) and "100 bytes" in r.stderr, (r.returncode, r.stderr)
    edit_config(crf_folder, lambda m: {k: v for k, v in m.items() if k != "files"})   # a folder without a manifest
    r = cli_process(["tag", "--model", crf_folder, "华为手机"])
    assert r.returncode == 2 and one_line(r.stderr) and "not a whole crfsuite model" in r.stderr, r.stderr


def test_mutated_or_cut_crfsuite_models_never_reach_crfsuite(crf_folder):
    import random
    from prodtags.rnn import CRFSuiteTagger
    model = crf_folder / "model.crfsuite"
    data = model.read_bytes()
    rng = random.Random(0)
    for _ in range(20):                          # with the manifest: any change is refused before crfsuite reads it
        mutated = bytearray(data)
        start = rng.randrange(0, len(data) - 8)
        mutated[start:start + 8] = bytes(rng.randrange(256) for _ in range(8))
        if mutated == data: continue
        model.write_bytes(bytes(mutated))
        with pytest.raises(CheckpointError, match="sha256 differs"):
            CRFSuiteTagger.load(crf_folder)
    edit_config(crf_folder, lambda m: {k: v for k, v in m.items() if k != "files"})   # without it: the header
    for n in sorted({0, 10, 47, 48, 100, len(data) // 2, len(data) - 1, *(rng.randrange(len(data)) for _ in range(10))}):
        model.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match="not a whole crfsuite model"):
            CRFSuiteTagger.load(crf_folder)
    model.write_bytes(data)
    assert CRFSuiteTagger.load(crf_folder).predict("华为手机") is not None                  # the whole file loads


def test_a_saved_folder_records_every_file_and_any_change_is_named(char_tagger):
    _, folder = char_tagger
    files = read_config(folder)["files"]
    assert set(files) == {"model.safetensors"} and files["model.safetensors"]["bytes"] > 0
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1                                                    # one flipped bit, same size
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 differs"):
        load_tagger(folder)


# 2. No model folder runs code ------------------------------------------------------------------------------------
@pytest.fixture()
def tiny_bert(tmp_path):
    "A tiny randomly initialised BERT saved as a Hugging Face folder."
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertForTokenClassification
    cfg = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                     num_labels=9)
    BertForTokenClassification(cfg).save_pretrained(tmp_path / "bert")
    return tmp_path / "bert"


def test_a_folder_asking_to_run_its_own_code_is_refused_without_a_prompt(tiny_bert, tmp_path, monkeypatch):
    from prodtags.bert_ner import TokenClassifier
    marker = tmp_path / "ran"
    (tiny_bert / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nfrom transformers import BertConfig\n"
                                       f"class EvilConfig(BertConfig): model_type = 'evil'\n")
    edit_config(tiny_bert, lambda m: {**m, "auto_map": {"AutoConfig": "evil.EvilConfig",
                                                        "AutoModelForTokenClassification": "evil.EvilModel"}})
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("prodtags asked a question"))
    with pytest.raises(CheckpointError, match="auto_map.*never runs"):
        TokenClassifier.from_pretrained(str(tiny_bert), 9)
    assert not marker.exists()
    edit_config(tiny_bert, lambda m: {**{k: v for k, v in m.items() if k != "auto_map"}, "model_type": "evil"})
    with pytest.raises(CheckpointError, match="model type 'evil' is not one"):
        TokenClassifier.from_pretrained(str(tiny_bert), 9)
    edit_config(tiny_bert, lambda m: {**m, "model_type": "bert"})
    assert TokenClassifier.from_pretrained(str(tiny_bert), 9).num_parameters() > 0      # a standard folder loads


def test_every_from_pretrained_call_passes_trust_remote_code_false():
    import inspect
    import re
    import prodtags.bert_ner
    import prodtags.encoders
    checked = 0
    for module in (prodtags.bert_ner, prodtags.encoders):
        source = inspect.getsource(module)
        for m in re.finditer(r"(\w+)\.from_pretrained\(", source):
            if m.group(1) == "TokenClassifier": continue                  # prodtags' own method, which passes it on
            depth, i = 1, m.end()
            while depth: depth += {"(": 1, ")": -1}.get(source[i], 0); i += 1
            assert "trust_remote_code=False" in source[m.start():i], source[m.start():i]
            checked += 1
    assert checked >= 5


# 3. Changed data is noticed, and records say which data made them -----------------------------------------------
def test_a_changed_data_file_is_refused_and_the_check_is_remembered(tmp_path, monkeypatch, isolated_cache):
    import prodtags.data as data
    src = data_path("taobao_ner/dev.txt", download_missing=False)
    (tmp_path / "d" / "taobao_ner").mkdir(parents=True)
    copy = tmp_path / "d" / "taobao_ner" / "dev.txt"
    shutil.copy(src, copy)
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "d"))
    calls = []
    real = data.file_sha256
    monkeypatch.setattr(data, "file_sha256", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(data, "_VERIFIED", set())
    assert data_path("taobao_ner/dev.txt") == copy and len(calls) == 1
    monkeypatch.setattr(data, "_VERIFIED", set())                       # a new process: the cache remembers
    assert data_path("taobao_ner/dev.txt") == copy and len(calls) == 1
    with open(copy, "ab") as f: f.write("改 O\n".encode())
    with pytest.raises(ChecksumError, match="dev.txt.*should have"):
        data_path("taobao_ner/dev.txt")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, taobao):
    "A char-bilstm run trained by the CLI in the smoke profile."
    out = tmp_path_factory.mktemp("rel") / "char-bilstm"
    code, text = run(["train", "char-bilstm", "--out", str(out), "--profile", "smoke"])
    assert code == 0, text
    return out


def test_results_records_name_their_data_by_sha256(smoke_run):
    record = json.loads((smoke_run / "results.json").read_text(encoding="utf-8"))
    assert record["data_files"] == {p: DATA_FILES[p].sha256 for p in
                                    ("taobao_ner/train.txt", "taobao_ner/dev.txt", "taobao_ner/test.txt")}
    assert read_config(smoke_run / "tagger")["results"]["data_files"] == record["data_files"]


# 4. The default tagger: one per profile, and a broken half-finished run is recovered ----------------------------
def test_the_default_tagger_of_one_profile_is_not_used_for_another(isolated_cache, smoke_run, monkeypatch):
    import prodtags.recipes as recipes
    monkeypatch.setenv("PRODTAGS_DEFAULT_TAGGER", "char-bilstm")   # the recipe smoke_run trained
    shutil.copytree(smoke_run, recipes.default_tagger_dir("smoke"))
    assert recipes.default_tagger_dir("smoke") != recipes.default_tagger_dir("cpu")
    trained = []
    class Fake:
        name, summary = "char-bilstm", "fake"
        def load(self):
            def train(out, profile=None, **kw):
                trained.append(profile); shutil.copytree(smoke_run / "tagger", out / "tagger")
            return train
    monkeypatch.setattr(recipes, "default_recipe", lambda lang="zh": Fake())
    assert recipes.default_tagger("smoke", progress=False) and trained == []   # the smoke one is reused in smoke
    recipes.default_tagger("cpu", progress=False)
    assert trained == ["cpu"]                                                   # but trained afresh for cpu


def test_a_killed_default_run_with_other_settings_is_started_afresh(isolated_cache, smoke_run, capsys, monkeypatch):
    from prodtags.recipes import default_tagger_dir
    monkeypatch.setenv("PRODTAGS_DEFAULT_TAGGER", "char-bilstm")   # the recipe smoke_run trained
    out = default_tagger_dir("smoke")
    shutil.copytree(smoke_run / "run", out / "run")                            # killed before its tagger was saved
    state = out / "run" / "checkpoint" / "state.json"
    meta = json.loads(state.read_text(encoding="utf-8"))
    meta["loop"]["run"]["train"]["seed"] = 99                                   # written by other settings
    meta["loop"]["epoch"] = 1
    state.write_text(json.dumps(meta), encoding="utf-8")
    code, text = run(["tag", "--format", "jsonl", "华为手机"])
    err = capsys.readouterr().err
    assert code == 0 and json.loads(text)["text"] == "华为手机", err
    assert "Starting the default tagger afresh" in err and "seed=99" in err


def test_a_checkpoint_that_does_not_fit_is_one_line(tmp_path, toy):
    from prodtags.loop import make_optimizer
    from prodtags.recipes import CharBiLSTMTagger
    def parts(width):
        m = CharBiLSTMTagger(20, 9, embed_dim=width, hidden_size=width)
        opt = make_optimizer(m, 1e-3)
        return m, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    save_checkpoint(tmp_path / "ck", *parts(4), {"epoch": 1})
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "ck", *parts(8))
    assert "\n" not in str(e.value) and "--no-resume" in str(e.value)


# 5 and 6. Titles: one splitting rule for --file and standard input; invalid UTF-8 named -------------------------
TRICKY = ("\ufeff华为手机\r\n" "小米\u2028电视\x85盒子\x0c遥控\n" "\r\n" "苹果\rIPAD\n").encode("utf-8")


def test_file_and_standard_input_give_the_same_records_one_per_line(char_tagger, tmp_path):
    _, folder = char_tagger
    f = tmp_path / "titles.txt"
    f.write_bytes(TRICKY)
    code1, from_file = run(["tag", "--model", str(folder), "--format", "jsonl", "--file", str(f)])
    code2, from_stdin = run_bytes(["tag", "--model", str(folder), "--format", "jsonl"], TRICKY)
    assert code1 == code2 == 0 and from_file == from_stdin
    texts = [json.loads(line)["text"] for line in records(from_file)]
    assert texts == ["华为手机", "小米\u2028电视\x85盒子\x0c遥控", "", "苹果\rIPAD"]   # 4 lines in, 4 records out


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_invalid_utf8_names_the_line_or_is_replaced_when_asked(char_tagger, tmp_path, capsys, how):
    _, folder = char_tagger
    data = "华为手机\n".encode() + b"bad \xff\xfe title\n" + "小米\n".encode()
    f = tmp_path / "bad.txt"
    f.write_bytes(data)
    argv = ["tag", "--model", str(folder), "--format", "jsonl"]
    go = (lambda extra: run(argv + extra + ["--file", str(f)])) if how == "file" else \
         (lambda extra: run_bytes(argv + extra, data))
    code, text = go([])
    err = capsys.readouterr().err
    assert code == 2 and text == "" and one_line(err) and ":2: not UTF-8" in err, err
    code, text = go(["--encoding-errors", "replace"])
    rows = [json.loads(line)["text"] for line in records(text)]
    assert code == 0 and rows == ["华为手机", "bad \ufffd\ufffd title", "小米"]


# 7. Long titles: a documented maximum, a warning, time linear in the length -------------------------------------
def test_a_very_long_title_is_cut_with_a_warning_and_tagged_quickly(char_tagger):
    tagger, _ = char_tagger
    title = "新款华为手机" * 20_000                                          # 120,000 characters
    t0 = time.perf_counter()
    with pytest.warns(ProdtagsWarning, match=f"first {MAX_TITLE_CHARS} characters"):
        spans = tagger.predict(title)
    assert time.perf_counter() - t0 < 20
    assert spans and all(s.end <= MAX_TITLE_CHARS and title[s.start:s.end] == s.text for s in spans)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tagger.predict("新款华为手机")                                       # a normal title: no warning


# 8. Sizes in config.json are checked against the weights before anything is built -------------------------------
@pytest.mark.parametrize("vocab_size", [5_000_000, 10**10, 1e10, -3, "many"])
def test_sizes_from_config_json_are_checked_before_building(char_tagger, vocab_size, monkeypatch):
    from prodtags.recipes import CharBiLSTMTagger
    _, folder = char_tagger
    edit_config(folder, lambda m: {**m, "config": {**m["config"], "vocab_size": vocab_size}})
    built = []
    real_init = CharBiLSTMTagger.__init__
    def spy(self, *a, **k):
        built.append(torch.empty(0).device.type)     # the default device while building: 'meta' during the check
        real_init(self, *a, **k)
    monkeypatch.setattr(CharBiLSTMTagger, "__init__", spy)
    with pytest.raises(CheckpointError) as e:
        load_tagger(folder)
    assert "\n" not in str(e.value)
    assert "cpu" not in built                        # nothing was built in real memory


# 9. Tracebacks where the contract says one line and exit 2 -----------------------------------------------------
BROKEN_CONFIGS = {
    "a list": lambda m: [1, 2],
    "null": lambda m: None,
    "a string": lambda m: "tagger",
    "tagger null": lambda m: {**m, "tagger": None},
    "tagger a number": lambda m: {**m, "tagger": 5},
    "a module that is not there": lambda m: {**m, "tagger": "prodtags.train:BaseTagger"},
    "an abstract interface": lambda m: {**m, "tagger": "prodtags.taggers:SpanTagger"},
    "an abstract model": lambda m: {**m, "model": "prodtags.taggers:TaggerModel"},
    "tag_types shorter than the weights": lambda m: {**m, "tag_types": m["tag_types"][:2]},
    "tag_types null": lambda m: {**m, "tag_types": None},
    "vocab null": lambda m: {**m, "vocab": None},
    "vocab of numbers": lambda m: {**m, "vocab": {"tokens": [1, 2]}},
    "config null": lambda m: {**m, "config": None},
    "files a string": lambda m: {**m, "files": "x"},
    "files outside the folder": lambda m: {**m, "files": {"../../etc/passwd": {"bytes": 1, "sha256": "0"}}},
}


@pytest.mark.parametrize("case", sorted(BROKEN_CONFIGS))
def test_broken_config_json_is_one_line_and_exit_2(char_tagger, case, capsys):
    _, folder = char_tagger
    edit_config(folder, BROKEN_CONFIGS[case])
    code, text = run(["tag", "--model", str(folder), "华为手机"])
    err = capsys.readouterr().err
    assert code == 2 and text == "" and one_line(err), (case, err)


@pytest.mark.parametrize("size", ["0", "-5", "two"])
def test_a_batch_size_below_one_is_a_usage_error(char_tagger, size, capsys):
    tagger, folder = char_tagger
    with pytest.raises(SystemExit) as e:
        run(["tag", "--model", str(folder), "--batch-size", size, "华为"])
    assert e.value.code == 2 and "--batch-size" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="batch_size"):
        tagger.predict(["华为"], batch_size=0)


# 10. prodtags list: junk skipped and reported, only regular files opened, control characters escaped -------------
def test_list_survives_junk_fifos_and_escape_codes(char_tagger, tmp_path, capsys):
    _, folder = char_tagger
    root = tmp_path / "models"
    shutil.copytree(folder, root / "good")
    shutil.copytree(folder, root / "junk-results")
    edit_config(root / "junk-results", lambda m: {**m, "results": {"technique": "x", "scores": "junk"}})
    shutil.copytree(folder, root / "escapes")
    edit_config(root / "escapes", lambda m: {**m, "results": {"technique": "\x1b[2J\x1b[31mred\x07"}})
    (root / "list").mkdir()
    (root / "list" / "config.json").write_text("[1, 2]")
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "config.json")
    result = []
    worker = threading.Thread(target=lambda: result.append(run(["list", str(root)])), daemon=True)
    worker.start(); worker.join(60)
    assert result, "prodtags list hung"
    code, text = result[0]
    err = capsys.readouterr().err
    assert code == 0 and "\x1b" not in text and "\x07" not in text and "\\x1b[31mred" in text
    assert len(text.splitlines()) == 2                               # good and escapes
    assert "skipped" in err and "junk-results" in err and "models/list" in err and "models/fifo" not in err


# 11. Resuming refuses a run with other settings ----------------------------------------------------------------
def test_resume_refuses_a_checkpoint_of_another_seed(tmp_path, toy):
    titles, vocab, tagset, model, loader = toy()
    def evaluate(m):
        if calls.append(1) or len(calls) == 2: raise KeyboardInterrupt   # killed during the second epoch
        return {"f1": 0.5}
    calls = []
    with pytest.raises(KeyboardInterrupt):
        fit(model, loader, TrainConfig(epochs=3, seed=0), evaluate, tmp_path / "run", device="cpu", progress=False)
    with pytest.raises(CheckpointError, match="seed=0 then, 7 now.*--no-resume"):
        fit(model, loader, TrainConfig(epochs=3, seed=7), lambda m: {"f1": 0.5}, tmp_path / "run", device="cpu",
            progress=False)
    state = fit(model, loader, TrainConfig(epochs=3, seed=7), lambda m: {"f1": 0.5}, tmp_path / "run",
                resume=False, device="cpu", progress=False)
    assert state["run"]["train"]["seed"] == 7 and state["epoch"] == 3


def test_cli_resume_with_another_seed_is_one_line(smoke_run, tmp_path, capsys):
    shutil.copytree(smoke_run, tmp_path / "run")
    code, _ = run(["train", "char-bilstm", "--out", str(tmp_path / "run"), "--profile", "smoke", "--seed", "7"])
    err = capsys.readouterr().err
    assert code == 2 and "seed=0 then, 7 now" in err and one_line(err.splitlines()[-1])
    assert json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))["seed"] == 0   # unchanged


# 12. Spans: whole grapheme clusters, never edged with format or control characters ------------------------------
FAMILY, FLAG = "👨\u200d👩\u200d👧", "🇨🇳"


def test_spans_never_cut_a_cluster_nor_keep_invisible_edges():
    text = "\ufeff华为" + FAMILY + "手机\u202e\u0007" + FLAG + "\x00"
    n = len(text)
    every = tag_spans(text, ["B-HPPX"] + ["I-HPPX"] * (n - 1), strip=True)
    assert [(s.start, s.end) for s in every] == [(1, 14)] and every[0].text == "华为" + FAMILY + "手机\u202e\u0007" + FLAG
    # a boundary inside the family and one inside the flag: each cluster goes with its first character's span
    tags = ["B-HPPX"] * 1 + ["I-HPPX"] * 3 + ["B-HCCX"] * 1 + ["I-HCCX"] * (n - 5)
    spans = tag_spans(text, tags, strip=True)
    assert [(s.text, s.type) for s in spans] == [("华为" + FAMILY, "HPPX"), ("手机\u202e\u0007" + FLAG, "HCCX")]
    only_tail = tag_spans(text, ["O"] * 13 + ["B-XH"] + ["O"] * (n - 14), strip=True)   # the flag's second half
    assert only_tail == []


class AllTagged(SpanTagger):
    "A stub tagger that tags every character as one entity, then a new one at every third character."
    def predict_tags(self, texts, batch_size=64):
        return [[("B-" if i % 3 == 0 else "I-") + "HCCX" for i in range(len(t))] for t in texts], \
               [[1.0] * len(t) for t in texts]
    def save(self, folder, extra=None): raise NotImplementedError
    @classmethod
    def load(cls, folder, device=None): raise NotImplementedError


ALPHABET = ["a", "华", "1", " ", "\u0301", "\u200d", "\ufe0f", "👨", "👩", "🇨", "🇳", "\U0001F3FD", "\u0007",
            "\ufeff", "\u202e", "\x00", "\r", "\n", "\u2028", "\u00ad"]


@given(st.lists(st.sampled_from(ALPHABET), max_size=24).map("".join),
       st.lists(st.sampled_from(["O", "B-HCCX", "I-HCCX", "B-XH", "I-XH"]), min_size=24, max_size=24))
def test_span_edges_property(text, tags):
    regex = pytest.importorskip("regex")
    clusters = {m.start() for m in regex.finditer(r"\X", text)} | {len(text)}
    starts = grapheme_starts(text)
    assert {i for i, s in enumerate(starts) if s} == clusters                  # our clusters are UAX #29's
    spans = tag_spans(text, tags[:len(text)], strip=True) + AllTagged().predict([text])[0]
    for s in spans:
        assert s.start in clusters and s.end in clusters and text[s.start:s.end] == s.text
        for edge in (s.text[0], s.text[-1]):
            assert not edge.isspace() and unicodedata.category(edge) not in ("Cc", "Cf", "Zl", "Zp")


# 13. Finite weights ------------------------------------------------------------------------------------------
def test_nan_weights_are_refused(char_tagger, tmp_path):
    tagger, _ = char_tagger
    with torch.no_grad(): next(tagger.model.parameters()).fill_(float("nan"))
    folder = tagger.save(tmp_path / "nan")                        # saved honestly, manifest and all
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_tagger(folder)
    code, _ = run(["tag", "--model", str(folder), "华为"])
    assert code == 2


# 14. Output folders: checked before training, one writer at a time ---------------------------------------------
def test_an_out_that_is_a_file_fails_before_any_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        t0 = time.perf_counter()
        code, _ = run(["train", "char-bilstm", "--out", str(out), "--profile", "smoke"])
        err = capsys.readouterr().err
        assert code == 2 and one_line(err) and time.perf_counter() - t0 < 5, err
        assert "epoch" not in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_fails_before_any_training(tmp_path, capsys):
    (tmp_path / "ro").mkdir(mode=0o500)
    code, _ = run(["train", "char-bilstm", "--out", str(tmp_path / "ro"), "--profile", "smoke"])
    assert code == 2 and "Cannot write into" in capsys.readouterr().err


def test_an_unwritable_out_fails_before_any_training_even_as_root(tmp_path, monkeypatch, capsys):
    import prodtags.persist as persist
    def refuse(*a, **k): raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(persist.tempfile, "TemporaryFile", refuse)       # what a read-only folder answers
    t0 = time.perf_counter()
    code, _ = run(["train", "char-bilstm", "--out", str(tmp_path / "ro"), "--profile", "smoke"])
    err = capsys.readouterr().err
    assert code == 2 and one_line(err) and "Cannot write into" in err and "Permission denied" in err, err
    assert time.perf_counter() - t0 < 5 and "epoch" not in err


HOLD = ("import sys, time; from prodtags.persist import output_lock\n"
        "with output_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(float(sys.argv[2]))")


def test_a_second_training_into_the_same_out_is_refused_naming_the_holder(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "out"), "60"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _ = run(["train", "char-bilstm", "--out", str(tmp_path / "out"), "--profile", "smoke"])
        err = capsys.readouterr().err
        assert code == 2 and one_line(err) and f"pid {holder.pid}" in err, err
    finally:
        holder.kill(); holder.wait()
    with output_lock(tmp_path / "out"):                            # released when its holder died
        with output_lock(tmp_path / "out"): pass                    # and re-entrant within one process


def test_a_second_first_call_of_the_default_tagger_waits_and_trains_nothing(isolated_cache, smoke_run, monkeypatch,
                                                                            capsys):
    import prodtags.recipes as recipes
    out = recipes.default_tagger_dir("smoke")
    script = HOLD.replace("time.sleep(float(sys.argv[2]))",
                          "time.sleep(float(sys.argv[2])); import shutil; shutil.copytree(sys.argv[3], sys.argv[4])")
    holder = subprocess.Popen([sys.executable, "-c", script, str(out), "2", str(smoke_run / "tagger"),
                               str(out / "tagger")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(recipes.Recipe, "load", lambda self: pytest.fail("trained a second time"))
        tagger = recipes.default_tagger("smoke", progress=False)
        assert isinstance(tagger, CharTagger) and "Waiting for pid" in capsys.readouterr().err
    finally:
        holder.kill(); holder.wait()


# 15. Saved files follow the umask ------------------------------------------------------------------------------
@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_saved_taggers_follow_the_umask(char_tagger, tmp_path, umask, file_mode, dir_mode):
    tagger, _ = char_tagger
    old = os.umask(umask)
    try: folder = tagger.save(tmp_path / f"u{umask:o}")
    finally: os.umask(old)
    assert (folder.stat().st_mode & 0o777) == dir_mode
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == \
           {"config.json": file_mode, "model.safetensors": file_mode}


# What already behaved, kept covered ----------------------------------------------------------------------------
def test_empty_titles_and_wrong_types_still_behave(char_tagger):
    tagger, _ = char_tagger
    assert tagger.predict(["", " "]) == [[], []]
    with pytest.raises(TypeError):
        tagger.predict([b"bytes"])


def test_missing_or_corrupt_safetensors_still_one_line(char_tagger, capsys):
    _, folder = char_tagger
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    edit_config(folder, lambda m: {k: v for k, v in m.items() if k != "files"})
    assert run(["tag", "--model", str(folder), "华为"])[0] == 2 and one_line(capsys.readouterr().err)
    (folder / "model.safetensors").unlink()
    assert run(["tag", "--model", str(folder), "华为"])[0] == 2 and one_line(capsys.readouterr().err)


def test_a_pickle_in_an_encoder_folder_is_never_loaded(tiny_bert, tmp_path):
    from prodtags.bert_ner import TokenClassifier
    marker = tmp_path / "ran"
    class Evil:
        def __reduce__(self): return (open, (str(marker), "w"))
    (tiny_bert / "model.safetensors").unlink()
    torch.save({"x": Evil()}, tiny_bert / "pytorch_model.bin")
    with pytest.raises(Exception):
        TokenClassifier.from_pretrained(str(tiny_bert), 9)
    assert not marker.exists()


# Property tests: the BIO reader, config.json, the command line's titles ----------------------------------------
CHARS = st.sampled_from(list("华为手机壳ab1 -") + ["\u2028", "\x85", "\x0c", "\u00a0", "😀", "\r"])


@st.composite
def tagged_titles(draw):
    text = draw(st.lists(CHARS, min_size=1, max_size=12).map("".join))
    spans, pos = [], 0
    while pos < len(text):
        length = draw(st.integers(1, len(text) - pos))
        if draw(st.booleans()): spans.append((draw(st.sampled_from(["HCCX", "HPPX", "XH"])), pos, pos + length))
        pos += length
    return text, spans_to_bio(spans, len(text))


@FIXED
@given(st.lists(tagged_titles(), min_size=1, max_size=5), st.sampled_from(["\n", "\r\n"]))
def test_bio_files_round_trip(tmp_path, titles, newline):
    body = newline.join(newline.join(f"{c} {t}" for c, t in zip(text, tags)) + newline for text, tags in titles)
    path = tmp_path / "titles.txt"
    path.write_bytes(body.encode("utf-8"))
    assert [(t.text, list(t.tags)) for t in read_bio_file(path)] == [(text, tags) for text, tags in titles]


@FIXED
@given(st.binary(max_size=200) | st.lists(st.sampled_from(["华 O", "为 B-HPPX", " O", "", "\r", "x  O", "\ufeff",
                                                          "a\u2028 O", "b I-X", "bad"]), max_size=8)
       .map(lambda ls: "\n".join(ls).encode("utf-8")))
def test_bio_reader_returns_titles_or_a_data_format_error(tmp_path, data):
    path = tmp_path / "any.txt"
    path.write_bytes(data)
    try: titles = read_bio_file(path)
    except DataFormatError as e: assert str(e).startswith(str(path)) and "\n" not in str(e)
    else: assert all(len(t.text) == len(t.tags) for t in titles)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) |
                    st.text(max_size=8), lambda inner: st.lists(inner, max_size=3) |
                    st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
KEYS = ["kind", "tagger", "model", "config", "vocab", "tag_types", "files", "results"]


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory):
    "A small char tagger saved once; each example edits a copy of its config.json."
    from prodtags.data import TagSet, Vocab
    from prodtags.recipes import CharBiLSTMTagger
    titles = toy_titles(20)
    vocab, tagset = Vocab.build(t.text for t in titles), TagSet(["HCCX", "HPPX", "XH", "MISC"])
    model = CharBiLSTMTagger(len(vocab), len(tagset), embed_dim=4, hidden_size=4)
    return CharTagger(model, vocab, tagset, "cpu").save(tmp_path_factory.mktemp("cfg") / "tagger")


@FIXED
@given(st.one_of(JSON, st.tuples(st.sampled_from(KEYS), JSON), st.tuples(st.sampled_from(["vocab_size", "num_labels",
       "embed_dim", "hidden_size", "num_layers", "dropout"]), JSON)))
def test_any_config_json_loads_or_is_a_prodtags_error(saved_once, tmp_path, change):
    folder = tmp_path / "t"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved_once, folder)
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if not isinstance(change, tuple): meta = change
    elif change[0] in KEYS: meta[change[0]] = change[1]
    else: meta["config"][change[0]] = change[1]
    (folder / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    try: tagger = load_tagger(folder)
    except ProdtagsError as e: assert "\n" not in str(e)
    else: tagger.predict(["华为手机"])


@settings(max_examples=300)
@given(st.binary(max_size=120) | st.lists(st.sampled_from(["华为", "\r", "\n", "\ufeff", "\u2028", "\x85", "\x0c",
                                                           "\r\n", "a"]), max_size=12).map(lambda p: "".join(p).encode()))
def test_decode_lines_one_record_per_line(data):
    body = data.removeprefix(b"\xef\xbb\xbf")                        # a leading byte-order mark is no line
    expected = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
    lines = decode_lines(data, errors="replace")
    assert len(lines) == expected and not any("\n" in line for line in lines)
    assert not (lines and lines[0].startswith("\ufeff") and data.startswith(b"\xef\xbb\xbf") and
                not data.startswith(b"\xef\xbb\xbf\xef\xbb\xbf"))
    try: strict = decode_lines(data)
    except DataFormatError as e: assert "not UTF-8" in str(e) and "\n" not in str(e)
    else: assert strict == lines


@FIXED
@given(st.lists(st.sampled_from(["华为手机", "\r", "\n", "\ufeff", "\u2028", "\x85", "\x0c", "😀", "a"]), max_size=10)
       .map(lambda p: "".join(p).encode()) | st.binary(max_size=40))
def test_cli_titles_from_file_and_stdin_agree(saved_once, tmp_path, data):
    f = tmp_path / "titles.txt"
    f.write_bytes(data)
    argv = ["tag", "--model", str(saved_once), "--format", "jsonl", "--encoding-errors", "replace"]
    code1, from_file = run(argv + ["--file", str(f)])
    code2, from_stdin = run_bytes(argv, data)
    assert code1 == code2 == 0 and from_file == from_stdin
    assert len(records(from_file)) == len(decode_lines(data, errors="replace"))
