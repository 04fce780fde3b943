"The tagging studio (nbs/91_studio.ipynb) driven through its Python API: no screen, no browser."
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from prodtags.core import ConfigError, DataFormatError, ProdtagsError, ProdtagsWarning, TagSpan
from prodtags.studio import (KEYS, AnnotationFile, Item, Record, Studio, StudioWidget, codepoint_offset,
                             snap_to_graphemes, text_items, utf16_offset, write_studio_notebook)

EMOJI = "🔥Cafe\u0301华为笔记本电脑"            # an emoji (two UTF-16 units) and a combining mark before the brand
CRLF = "新品\r\n华为笔记本电脑"


class FakeTagger:
    "A stand-in SpanTagger: suggests every occurrence of a few words, and is unsure of titles by their length."
    words = {"华为": "HPPX", "笔记本电脑": "HCCX", "手机": "HCCX"}

    def predict(self, texts):
        def one(t):
            out = []
            for w, typ in self.words.items():
                i = t.find(w)
                if i >= 0: out.append(TagSpan(w, typ, i, i + len(w), 0.8))
            return sorted(out, key=lambda s: s.start)
        return one(texts) if isinstance(texts, str) else [one(t) for t in texts]

    def uncertainty(self, texts):
        return [min(1.0, len(t) / 40) for t in texts]


@pytest.fixture
def items():
    return text_items([EMOJI, CRLF, "苹果手机壳", "小米手机", "华为手机 Mate 60 Pro 超长续航"])


def spans(s: Studio):
    return [(x["text"], x["type"], x["state"]) for x in s.spans]


# -- offsets ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [EMOJI, CRLF, "👨‍👩‍👧华为", "🇨🇳华为"])
def test_utf16_offsets_convert_to_code_points(text):
    start = text.index("华为")
    s16, e16 = utf16_offset(text, start), utf16_offset(text, start + 2)
    assert text.encode("utf-16-le")[2 * s16:2 * e16].decode("utf-16-le") == "华为"     # what the browser selected
    assert (codepoint_offset(text, s16, "start"), codepoint_offset(text, e16, "end")) == (start, start + 2)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_offset_round_trip(text):
    for i in range(len(text) + 1):
        assert codepoint_offset(text, utf16_offset(text, i)) == i


def test_half_an_emoji_or_cluster_is_never_a_span_edge():
    t = "Cafe\u0301👍🏽"
    assert (codepoint_offset(t, 6, "start"), codepoint_offset(t, 6, "end")) == (5, 6)   # inside 👍's surrogate pair
    assert snap_to_graphemes(t, 3, 4) == (3, 5) and snap_to_graphemes(t, 5, 6) == (5, 7)
    assert snap_to_graphemes("a\r\nb", 2, 4) == (1, 4)
    with pytest.raises(ValueError): codepoint_offset(t, 99)


# -- decisions, edits, undo -------------------------------------------------------------------------------------------
def test_suggest_accept_reject_add_change_free_tag_undo_redo(tmp_path, items):
    s = Studio(items, tmp_path / "a.jsonl", tagger=FakeTagger(), order="given")
    assert s.item.text == EMOJI and spans(s) == [("华为", "HPPX", "suggested"), ("笔记本电脑", "HCCX", "suggested")]
    s.accept(0)
    s.reject(1)
    assert spans(s) == [("华为", "HPPX", "accepted")]
    # add a span from browser (UTF-16) offsets: 'Café' sits after the emoji, its é is e + a combining mark
    s.add(utf16_offset(EMOJI, 1), utf16_offset(EMOJI, 5), "HPPX", units="utf16")
    assert spans(s)[0] == ("Cafe\u0301", "HPPX", "accepted")
    s.set_type(0, "MISC")
    s.set_bounds(1, 7, 10)                      # 华为 -> 为笔记: boundaries moved
    assert spans(s) == [("Cafe\u0301", "MISC", "accepted"), ("为笔记", "HPPX", "accepted")]
    s.add_free_tag("  轻薄 ")
    assert s.record().free_tags == ["轻薄"]
    versions = s.record().version
    assert s.undo().free_tags == [] and s.undo().spans[1]["text"] == "华为"
    assert s.redo().spans[1]["text"] == "为笔记" and s.redo().free_tags == ["轻薄"]
    assert s.record().version == versions + 4    # undo and redo are saved as new versions, never rewrites
    with pytest.raises(ConfigError, match="Unknown type"): s.add(0, 1, "COLOUR")
    with pytest.raises(ConfigError, match="not inside"): s.add(3, 99, "XH")
    with pytest.raises(ConfigError, match="No span 7"): s.accept(7)
    with pytest.raises(ConfigError, match="white space"): Studio(text_items(["a  b"]), tmp_path / "w.jsonl").add(1, 3, "XH")


def test_adding_over_a_suggestion_replaces_it_and_rejected_ones_stay_rejected(tmp_path, items):
    s = Studio(items, tmp_path / "a.jsonl", tagger=FakeTagger(), order="given")
    start = EMOJI.index("笔记本")
    s.add(start, start + 3, "HCCX")             # overlaps the suggested 笔记本电脑: that suggestion is rejected
    assert spans(s) == [("华为", "HPPX", "suggested"), ("笔记本", "HCCX", "accepted")]
    s.reject(0)
    again = Studio(items, tmp_path / "a.jsonl", tagger=FakeTagger(), order="given")
    assert spans(again) == [("笔记本", "HCCX", "accepted")]
    assert again.suggest() == []


def test_done_skip_back_progress_and_typed_titles(tmp_path, items):
    s = Studio(items, tmp_path / "a.jsonl", tagger=FakeTagger(), order="given")
    s.done()                                    # suggestions still open are accepted with the title
    assert s.file.records[items[0].key].status == "done"
    assert all(x["state"] == "accepted" for x in s.file.records[items[0].key].spans)
    s.skip()
    assert s.progress == {"position": 3, "total": 5, "done": 1, "skipped": 1}
    assert s.back().key == items[1].key
    typed = s.add_text("华为平板电脑")
    assert s.item == typed and s.progress["total"] == 6 and s.queue.index(typed.key) == 2
    with pytest.raises(ConfigError): s.add_text("  \n")


# -- the annotation file ----------------------------------------------------------------------------------------------
def test_every_change_is_saved_at_once_and_reload_continues(tmp_path, items):
    path = tmp_path / "a.jsonl"
    s = Studio(items, path, tagger=FakeTagger(), order="given")
    s.done(); s.done()
    s.add(0, 2, "HPPX")                          # the third title, edited but not finished
    lines = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3 and all(l["schema"] == 1 and l["version"] >= 1 for l in lines)
    again = Studio(items + text_items(["新标题"]), path, tagger=FakeTagger(), order="given")
    assert again.item.key == items[2].key and spans(again)[0] == ("苹果", "HPPX", "accepted")
    assert again.progress["done"] == 2 and again.progress["total"] == 6
    again.done()
    third = Studio(items, path, order="given")  # nothing open any more: the first title never touched
    assert third.item.key == items[3].key
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3   # compacted: one line per title


def test_typed_titles_come_back_from_the_file(tmp_path):
    s = Studio([], tmp_path / "a.jsonl")
    s.add_text("🔥新款华为手机")
    s.add(3, 5, "HPPX")
    again = Studio([], tmp_path / "a.jsonl")
    assert again.item.text == "🔥新款华为手机" and spans(again) == [("华为", "HPPX", "accepted")]


def test_a_torn_last_line_is_dropped_and_a_broken_file_is_named(tmp_path, items):
    path = tmp_path / "a.jsonl"
    s = Studio(items, path, order="given")
    s.add(3, 5, "HPPX"); s.add_free_tag("x")
    with open(path, "a", encoding="utf-8") as f: f.write('{"schema": 1, "key": "typ')
    with pytest.warns(ProdtagsWarning, match="half-written"):
        f = AnnotationFile(path)
    assert f.records[items[0].key].free_tags == ["x"] and path.read_text(encoding="utf-8").endswith("\n")
    path.write_text('not json\n' + path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"a.jsonl:1"): AnnotationFile(path)
    path.write_text(json.dumps({"schema": 99, "key": "k", "text": "t"}) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="schema 99"): AnnotationFile(path)


def test_two_studios_on_one_file_lose_nothing(tmp_path, items):
    path = tmp_path / "a.jsonl"
    a, b = Studio(items, path, order="given"), Studio(items, path, order="given")
    a.add(6, 8, "HPPX")                         # a edits the first title,
    b.next(); b.add(4, 6, "HPPX")               # b the second, each appending to the shared file
    a.file.compact()                            # a compacts: b's line is read back first, not overwritten
    merged = AnnotationFile(path).records
    assert [x["text"] for x in merged[items[0].key].spans] == ["华为"]
    assert [x["text"] for x in merged[items[1].key].spans] == ["华为"]


# -- the active-learning queue, export, training ---------------------------------------------------------------------
def test_queue_asks_the_least_certain_title_first(tmp_path, items):
    s = Studio(items, tmp_path / "a.jsonl", tagger=FakeTagger())
    texts = [s.items[k].text for k in s.queue]
    assert texts[0] == "华为手机 Mate 60 Pro 超长续航" and texts[-1] == "小米手机"
    assert s.uncertainty[s.queue[0]] == max(s.uncertainty.values())
    s.done()
    s.tagger.uncertainty = lambda ts: [1 - len(t) / 40 for t in ts]   # a new tagger: the rest is reordered
    s.reorder()                                 # the titles seen so far keep their place
    assert [s.items[k].text for k in s.queue] == ["华为手机 Mate 60 Pro 超长续航", EMOJI, "小米手机", "苹果手机壳", CRLF]


def test_export_jsonl_and_bio_read_back(tmp_path, items):
    from prodtags.data import read_span_file
    s = Studio(items, tmp_path / "a.jsonl", tagger=FakeTagger(), order="given")
    with pytest.raises(ProdtagsError, match="Nothing to export"): s.export(tmp_path / "x.jsonl")
    s.add(1, 5, "MISC"); s.done()
    s.skip()                                    # skipped titles are not exported
    s.done()
    js, bio = read_span_file(s.export(tmp_path / "out.jsonl")), read_span_file(s.export(tmp_path / "out.bio"))
    assert [t.text for t in js] == [t.text for t in bio] == [EMOJI, "苹果手机壳"]
    assert js[0].tags == bio[0].tags and [(x.text, x.type, x.start) for x in js[0].spans] == [
        ("Cafe\u0301", "MISC", 1), ("华为", "HPPX", 6), ("笔记本电脑", "HCCX", 8)]
    rows = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[0]["tags"][1]["start"] == 6 and EMOJI[6:8] == "华为"    # code points, not UTF-16 units


def test_train_from_the_export_and_suggest_with_it(tmp_path):
    "annotate -> export -> train (the crf recipe through retrain) -> tag, on real Taobao titles."
    pytest.importorskip("pycrfsuite")
    from prodtags.data import load_taobao, read_span_file
    gold = load_taobao("train")[:30]
    s = Studio([Item(f"t/{i}", t.text, "taobao") for i, t in enumerate(gold)], tmp_path / "a.jsonl", order="given",
               profile="smoke")
    with pytest.raises(ProdtagsError, match="at least 10"): s.retrain(tmp_path / "m")
    for t in gold[:12]:
        for g in t.spans: s.add(g.start, g.end, g.type)
        s.done()
    results = s.retrain(tmp_path / "m", profile="smoke")
    assert results["technique"] == "crf" and s.tagger is not None
    exported = read_span_file(tmp_path / "m-data.jsonl")
    assert [t.spans for t in exported] == [t.spans for t in gold[:12]]
    assert isinstance(s.suggest(), list) and s.item.key == "t/12"
    from prodtags.cli import main
    s.export(tmp_path / "gold.bio")
    out = __import__("io").StringIO()
    assert main(["eval", str(tmp_path / "gold.bio"), "--model", str(tmp_path / "m")], out=out) == 0
    assert json.loads(out.getvalue())["titles"] == 12


# -- the widget without a browser -----------------------------------------------------------------------------------
def test_widget_keys_and_browser_selection(tmp_path, items):
    pytest.importorskip("anywidget")
    s = Studio(items, tmp_path / "a.jsonl", tagger=FakeTagger(), order="given")
    w = StudioWidget(s)
    key = lambda k, shift=False: w._on_msg(None, {"event": "key", "key": k, "shift": shift})
    assert [x["start"] for x in w.view.spans] == [utf16_offset(EMOJI, 6), utf16_offset(EMOJI, 8)]   # UTF-16 for the page
    w.view.selection = [utf16_offset(EMOJI, 1), utf16_offset(EMOJI, 5)]   # a mouse selection reported by the page
    assert w.sel == (1, 6)                          # widened over the combining mark
    key("4")                                        # type 4 (MISC) on the selection
    assert spans(s)[0] == ("Cafe\u0301", "MISC", "accepted")
    key("]"); key("]"); key("1")                    # second span active, retyped HCCX
    assert spans(s)[1] == ("华为", "HCCX", "accepted")
    key("x")
    assert [x[0] for x in spans(s)] == ["Cafe\u0301", "笔记本电脑"]
    key("u")
    assert len(spans(s)) == 3
    key("ArrowRight"); key("ArrowRight", shift=True)   # one character selected, then two
    assert w.sel == (6, 8) and w.view.selection == [utf16_offset(EMOJI, 6), utf16_offset(EMOJI, 8)]
    key("Enter")
    assert s.progress["done"] == 1 and s.item.text == CRLF and "1 done" in w.header.value
    w.typed.value = "💯华为"
    w._do(lambda: s.add_text(w.typed.value))
    assert s.item.text == "💯华为"
    w._do(lambda: s.add(5, 9, "XH"))                # a problem is shown, not raised
    assert "not inside" in w.status.value
    assert set(KEYS) >= {"Enter", "u", "r", "a", "x", "1"}


# -- a real kernel, killed between two edits -----------------------------------------------------------------------
def test_a_killed_kernel_loses_no_saved_edit(tmp_path, items):
    jupyter_client = pytest.importorskip("jupyter_client")
    path = tmp_path / "a.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    km = jupyter_client.KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client(); kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        setup = (f"from prodtags.studio import Studio, text_items\n"
                 f"s = Studio(text_items({[i.text for i in items]!r}), {str(path)!r}, order='given')\n"
                 f"_ = s.add(6, 8, 'HPPX')\n")
        reply = kc.execute_interactive(setup, timeout=60)
        assert reply["content"]["status"] == "ok"
        # the second edit, and then more, one every few ms; the kernel is killed while they run
        kc.execute("import time\nfor i in range(100000):\n    s.add_free_tag(f't{i}'); print(i, flush=True); time.sleep(0.002)")
        printed, deadline = -1, time.time() + 60
        while printed < 20 and time.time() < deadline:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "stream": printed = max(printed, *map(int, msg["content"]["text"].split()))
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        km.provisioner.process.wait()
    finally:
        kc.stop_channels()
        km.cleanup_resources() if hasattr(km, "cleanup_resources") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProdtagsWarning)   # the kill may tear the line being written
        rec = AnnotationFile(path).records[items[0].key]
    assert [x["text"] for x in rec.spans] == ["华为"]
    assert rec.free_tags[:printed + 1] == [f"t{i}" for i in range(printed + 1)]   # every edit reported saved is there
    assert rec.version >= printed + 2
    assert Studio(items, path, order="given").item.key == items[0].key          # and the studio continues there


def test_the_studio_notebook_opens_the_studio(tmp_path):
    nb = json.loads(write_studio_notebook(tmp_path, None, "abo", tmp_path / "a.jsonl", "smoke").read_text())
    code = "".join(nb["cells"][0]["source"])
    assert "open_studio(model=None, data='abo'" in code and nb["metadata"]["kernelspec"]["name"] == "python3"


def test_abo_listings_show_their_photo_and_the_classifiers_labels(tmp_path):
    pytest.importorskip("anywidget")
    from prodtags.core import LabelScore
    from prodtags.studio import abo_items

    class FakeClassifier:
        uses_images = False
        def predict(self, text, images=None, top_k=None): return [LabelScore("Bag", 0.7), LabelScore("Dress", 0.2)]

    items = abo_items()
    assert items and all(i.image and Path(i.image).is_file() for i in items)
    w = StudioWidget(Studio(items, tmp_path / "a.jsonl", classifier=FakeClassifier(), order="given"))
    assert w.photo.value[:2] == b"\xff\xd8" and w.photo.layout.display is None     # the JPEG is on the page
    assert "Bag" in w.labels.value and "0.70" in w.labels.value
    assert w.s.item.text.startswith("AmazonBasics")


def test_prodtags_studio_serves_voila_on_localhost(tmp_path, monkeypatch, capsys):
    pytest.importorskip("voila")   # the studio extra (the lower-bound run leaves it out)
    import subprocess
    from prodtags.cli import main
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    out = __import__("io").StringIO()
    assert main(["studio", "--data", "abo", "--out", str(tmp_path / "a.jsonl"), "--port", "18123"], out=out) == 0
    assert out.getvalue().startswith("prodtags studio: http://127.0.0.1:18123/")
    (cmd,) = calls
    assert cmd[1:3] == ["-m", "voila"] and "--no-browser" in cmd and "--Voila.ip=127.0.0.1" in cmd and "--port=18123" in cmd
    assert main(["studio", "--data", str(tmp_path / "missing.txt")], out=out) == 2
    assert "missing.txt" in capsys.readouterr().err
