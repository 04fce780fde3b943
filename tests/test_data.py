import gzip
import hashlib
import io
import random
import unittest.mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodtags.core import ChecksumError, ConfigError, DataFormatError, DataNotFoundError
from prodtags.data import TaggedTitle
from prodtags.data import (DATA_FILES, IGNORE_INDEX, LengthBucketSampler, RemoteFile, TagSet, Vocab, align_labels,
                           bio_to_spans, clean_split, data_path, encode_titles, load_taobao, make_loader, pad_batch,
                           parse_bio_lines, read_bio_file, read_idx, spans_to_bio, tag_spans,
                           token_tags_to_char_tags, values_to_spans)

# ---------------------------------------------------------------- parsing


def test_parse_crlf_blank_lines_and_space_characters():
    text = "笔 B-HCCX\r\n记 I-HCCX\r\n O\r\n本 O\r\n\r\n\r\n华 B-HPPX\r\n为 I-HPPX\r\n"
    titles = parse_bio_lines(text.splitlines(keepends=True))
    assert [t.text for t in titles] == ["笔记 本", "华为"]
    assert titles[0].tags == ("B-HCCX", "I-HCCX", "O", "O")
    assert [(s.text, s.type) for s in titles[1].spans] == [("华为", "HPPX")]


@pytest.mark.parametrize("line,msg", [("本电脑 O", "one character"), ("笔", "no space"), ("笔 X-HCCX", "not O, B-TYPE")])
def test_malformed_line_names_file_and_line(line, msg):
    with pytest.raises(DataFormatError, match=rf"titles\.txt:3: .*{msg}"):
        parse_bio_lines(["笔 B-HCCX", "记 I-HCCX", line], source="titles.txt")


def test_read_bio_file_rejects_non_utf8(tmp_path):
    p = tmp_path / "gbk.txt"
    p.write_bytes("笔 O\n".encode("gbk"))
    with pytest.raises(DataFormatError, match="UTF-8"):
        read_bio_file(p)

# ---------------------------------------------------------------- spans <-> BIO

TYPES = ["HCCX", "HPPX", "XH", "MISC"]


@st.composite
def spans_and_length(draw):
    length = draw(st.integers(1, 40))
    cuts = sorted(draw(st.sets(st.integers(0, length), max_size=12)))
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        if draw(st.booleans()):
            spans.append((draw(st.sampled_from(TYPES)), a, b))
    return spans, length


@given(spans_and_length())
def test_spans_bio_round_trip(case):
    spans, length = case
    assert bio_to_spans(spans_to_bio(spans, length)) == sorted(spans, key=lambda s: s[1])


@given(st.lists(st.sampled_from(["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]), max_size=30))
def test_any_tag_sequence_gives_valid_disjoint_spans(tags):
    spans = bio_to_spans(tags)
    covered = [0] * len(tags)
    for typ, a, b in spans:
        assert 0 <= a < b <= len(tags) and typ in TYPES
        for i in range(a, b): covered[i] += 1
    assert max(covered, default=0) <= 1
    assert bio_to_spans(spans_to_bio(spans, len(tags))) == spans  # canonical form is a fixed point


def test_conlleval_reading_of_invalid_sequences():
    assert bio_to_spans(["O", "I-HCCX", "I-HCCX", "I-HPPX", "B-XH", "B-XH"]) == [
        ("HCCX", 1, 3), ("HPPX", 3, 4), ("XH", 4, 5), ("XH", 5, 6)]
    with pytest.raises(ValueError):
        spans_to_bio([("A", 0, 3), ("B", 2, 4)], 5)
    with pytest.raises(ValueError):
        bio_to_spans(["E-HCCX"])


def test_tag_spans_scores_are_means():
    spans = tag_spans("华为手机", ["B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX"], [0.9, 0.7, 0.5, 0.5])
    assert [(s.text, s.type, round(s.score, 6)) for s in spans] == [("华为", "HPPX", 0.8), ("手机", "HCCX", 0.5)]

# ---------------------------------------------------------------- vocab, tag set, alignment


def test_vocab_folds_case_without_shifting_positions():
    v = Vocab.build(["apple苹果"])
    assert v.encode("APPLE苹果") == v.encode("apple苹果")
    assert len(v.encode("İx")) == 2  # 'İ'.lower() is two characters: left as is, so offsets stay put
    assert v.encode("龘")[0] == Vocab.UNK
    assert Vocab.from_json(v.to_json()).itos == v.itos


def test_tagset_unknown_tag_is_clear():
    ts = TagSet(TYPES)
    assert ts.decode(ts.encode(["O", "B-XH", "I-XH"])) == ["O", "B-XH", "I-XH"]
    with pytest.raises(ValueError, match="not in this tag set"):
        ts.encode(["B-COLOR"])


@st.composite
def tokenised_title(draw):
    "Random gold tags and token offsets whose tokens never cross an entity boundary."
    spans, length = draw(spans_and_length())
    tags = spans_to_bio(spans, length)
    bounds = {0, length} | {a for _, a, _ in spans} | {b for _, _, b in spans}
    bounds |= set(draw(st.sets(st.integers(0, length), max_size=length)))
    cuts = sorted(bounds)
    offsets = [(0, 0)] + list(zip(cuts, cuts[1:])) + [(0, 0)]  # [CLS] tokens [SEP]
    return tags, offsets


@given(tokenised_title())
def test_alignment_round_trip_is_exact_when_tokens_respect_entities(case):
    tags, offsets = case
    ts = TagSet(TYPES)
    token_ids = align_labels(ts.encode(tags), offsets)
    assert token_ids[0] == IGNORE_INDEX and token_ids[-1] == IGNORE_INDEX
    token_tags = [ts.labels[i] if i != IGNORE_INDEX else "O" for i in token_ids]
    back = token_tags_to_char_tags(token_tags, offsets, len(tags))
    assert bio_to_spans(back) == bio_to_spans(tags)


def test_alignment_merged_token_and_split_character():
    ts = TagSet(TYPES)
    gold = ["B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX"]
    # a token that merges "为手" across the boundary takes the first character's tag
    assert align_labels(ts.encode(gold), [(0, 1), (1, 3), (3, 4)]) == [ts.index["B-HPPX"], ts.index["I-HPPX"], ts.index["I-HCCX"]]
    # a character split into two byte-level pieces: only the first piece is labelled
    assert align_labels(ts.encode(gold), [(0, 1), (0, 1), (1, 2)])[1] == IGNORE_INDEX


def test_uncovered_space_inside_an_entity_is_filled():
    tags = token_tags_to_char_tags(["B-XH", "I-XH"], [(0, 6), (7, 9)], 9)  # "iphone 15": space has no token
    assert bio_to_spans(tags) == [("XH", 0, 9)]

# ---------------------------------------------------------------- batches


def test_pad_batch_shapes_and_masks():
    b = pad_batch([{"input_ids": [5, 6, 7], "labels": [1, 2, 0]}, {"input_ids": [8], "labels": [3]}])
    assert b["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert b["labels"].tolist() == [[1, 2, 0], [3, IGNORE_INDEX, IGNORE_INDEX]]
    assert b["attention_mask"].sum(1).tolist() == [3, 1] and b["lengths"].tolist() == [3, 1]


@given(st.lists(st.integers(1, 60), min_size=1, max_size=300), st.integers(1, 40), st.integers(0, 5))
@settings(max_examples=50)
def test_bucket_sampler_yields_every_index_once(lengths, batch_size, epoch):
    s = LengthBucketSampler(lengths, batch_size, shuffle=True, seed=1, bucket_factor=2)
    s.set_epoch(epoch)
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert len(batches) == len(s) and all(1 <= len(b) <= batch_size for b in batches)
    assert batches == list(s)  # same epoch, same order


def test_bucket_sampler_reduces_padding():
    rng = random.Random(0)
    lengths = [rng.randint(5, 60) for _ in range(2000)]
    waste = lambda bs: sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in bs)
    plain = [list(range(i, min(i + 32, 2000))) for i in range(0, 2000, 32)]
    assert waste(list(LengthBucketSampler(lengths, 32, seed=0))) < 0.2 * waste(plain)

# ---------------------------------------------------------------- finding and checking files


def _fake_remote(monkeypatch, payload: bytes, sha: str):
    remote = RemoteFile("taobao_ner/fake.txt", "https://example.invalid/fake.txt", sha)
    monkeypatch.setitem(DATA_FILES, remote.path, remote)
    class Resp(io.BytesIO):
        headers = {"Content-Length": str(len(payload))}
        def __enter__(self): return self
        def __exit__(self, *a): return False
    return remote, (lambda url, timeout=None: Resp(payload))


def test_download_checks_sha256(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.delenv("PRODTAGS_DATA", raising=False)
    payload = "笔 O\n".encode()
    remote, opener = _fake_remote(monkeypatch, payload, hashlib.sha256(payload).hexdigest())
    with unittest.mock.patch("urllib.request.urlopen", opener):
        p = data_path(remote.path)
    assert p.read_bytes() == payload and p.is_relative_to(isolated_cache)
    assert data_path(remote.path, download_missing=False) == p  # now found in the cache


def test_download_with_wrong_sha256_keeps_nothing(monkeypatch, isolated_cache):
    monkeypatch.delenv("PRODTAGS_DATA", raising=False)
    remote, opener = _fake_remote(monkeypatch, b"tampered", "0" * 64)
    with unittest.mock.patch("urllib.request.urlopen", opener), pytest.raises(ChecksumError, match="expected 0000"):
        data_path(remote.path)
    assert not any(p.is_file() for p in isolated_cache.rglob("*"))


def test_offline_without_data_names_setting_and_address(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setenv("PRODTAGS_DATA", str(tmp_path / "empty"))
    with unittest.mock.patch("urllib.request.urlopen", side_effect=OSError("offline")), \
            pytest.raises(DataNotFoundError) as e:
        data_path("taobao_ner/train.txt")
    msg = str(e.value)
    assert "PRODTAGS_DATA" in msg and DATA_FILES["taobao_ner/train.txt"].url in msg and "offline" in msg
    with pytest.raises(ConfigError, match="Unknown data file"):
        data_path("taobao_ner/nope.txt")


def test_read_idx_checks_header(tmp_path):
    good = tmp_path / "ok.gz"
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    good.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in arr.shape) + arr.tobytes()))
    assert np.array_equal(read_idx(good), arr)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x02ab")
    with pytest.raises(DataFormatError, match="magic"):
        read_idx(bad)

# ---------------------------------------------------------------- OA-Mine spans


def test_values_to_spans_prefers_longer_values_and_reports_misses():
    title = "Crocs Women's Jayna Ballet Flat, Navy, 4 M US"
    spans, missed = values_to_spans(title, {"Brand": ["Crocs"], "Shoe type": ["Ballet Flat"], "Model name": ["Jayna"],
                                            "Size": ["4 M US"], "Color": ["n/a"], "Style": ["Flat"], "Oops": ["Pink"]})
    got = {(t, title[a:b]) for t, a, b in spans}
    assert got == {("Brand", "Crocs"), ("Shoe_type", "Ballet Flat"), ("Model_name", "Jayna"), ("Size", "4 M US")}
    assert ("Style", "Flat") in missed and ("Oops", "Pink") in missed  # "Flat" lies inside "Ballet Flat"

# ---------------------------------------------------------------- real data (skipped without it)


def test_taobao_counts_and_clean_split(taobao):
    assert [len(taobao[s]) for s in ("train", "dev", "test")] == [6000, 998, 1000]
    train_texts = {t.text for t in taobao["train"]}
    assert sum(t.text in train_texts for t in taobao["test"]) == 463
    clean = taobao["test_clean"]
    assert len(clean) == 494 and len({t.text for t in clean}) == 494
    assert not any(t.text in train_texts for t in clean + taobao["dev_clean"])
    assert load_taobao("clean") == clean
    assert clean_split(taobao["test"], []) == clean_split(clean_split(taobao["test"], []), [])
    with pytest.raises(ConfigError, match="test_clean"):
        load_taobao("tset")


def test_encode_titles_and_loader(taobao):
    ts = TagSet(TYPES)
    v = Vocab.build(t.text for t in taobao["train"])
    items = encode_titles(taobao["dev"][:50], v, ts)
    batches = list(make_loader(items, 16))
    assert sum(b["input_ids"].shape[0] for b in batches) == 50
    for b in batches:
        assert (b["labels"] != IGNORE_INDEX).sum() == b["attention_mask"].sum()


def test_tag_spans_strip_white_space():
    text = "iphone 15 手机壳"
    tags = ["B-XH"] * 7 + ["B-XH", "I-XH", "O", "B-HCCX", "I-HCCX", "I-HCCX"]
    stripped = [(s.text, s.start, s.end) for s in tag_spans(text, tags, strip=True)]
    assert ("", 6, 6) not in stripped and (" ", 6, 7) not in stripped
    assert ("15", 7, 9) in stripped and ("手机壳", 10, 13) in stripped
    assert (" ", 6, 7) in [(s.text, s.start, s.end) for s in tag_spans(text, tags)]  # gold spans stay as annotated
    assert tag_spans("   ", ["B-XH", "I-XH", "I-XH"], strip=True) == []


def test_span_files_round_trip_in_code_points(tmp_path):
    from prodtags.data import read_span_file, write_span_file
    titles = [TaggedTitle("😀e\u0301华为 手机壳", ("O", "O", "O", "B-HPPX", "I-HPPX", "O", "B-HCCX", "I-HCCX", "I-HCCX")),
              TaggedTitle("连衣裙", ("B-HCCX", "I-HCCX", "I-HCCX"), category="dress")]
    for name in ("t.jsonl", "t.txt"):
        back = read_span_file(write_span_file(tmp_path / name, titles))
        assert [(t.text, t.tags) for t in back] == [(t.text, t.tags) for t in titles]
    line = (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert '"start": 3, "end": 5' in line and '"text": "华为"' in line   # code points: the emoji and the mark count once


@pytest.mark.parametrize("record, message", [
    ({"text": "😀华为手机", "tags": [{"text": "华为", "type": "HPPX", "start": 2, "end": 4}]}, "UTF-16"),
    ({"text": "华为", "tags": [{"type": "HPPX", "start": 0, "end": 9}]}, "outside"),
    ({"text": "华为", "tags": [{"type": "HP PX", "start": 0, "end": 1}]}, "without spaces"),
    ({"text": "华为手机", "tags": [{"type": "A", "start": 0, "end": 2}, {"type": "B", "start": 1, "end": 3}]}, "overlap"),
    ({"tags": []}, "expected"),
])
def test_bad_span_records_name_the_problem(record, message):
    from prodtags.data import parse_span_record
    with pytest.raises(DataFormatError, match=message):
        parse_span_record(record, "f.jsonl:1")


def test_bio_export_refuses_line_breaks(tmp_path):
    from prodtags.data import write_span_file
    with pytest.raises(DataFormatError, match="JSON lines"):
        write_span_file(tmp_path / "t.txt", [TaggedTitle("a\nb", ("O", "O", "O"))])
    assert not (tmp_path / "t.txt").exists()


def test_span_data_of_a_file_holds_out_and_never_leaks(taobao, tmp_path):
    from prodtags.data import load_span_data, write_span_file
    titles = taobao["train"][:300] + taobao["test_clean"][:20]   # some annotated titles are Taobao clean-test titles
    data = load_span_data(write_span_file(tmp_path / "mine.jsonl", titles))
    train, dev, test = ({t.text for t in data.train}, {t.text for t in data.evals["dev_clean"]},
                        {t.text for t in data.evals["test_clean"]})
    assert dev and not train & dev and not (train | dev) & test
    assert test < {t.text for t in taobao["test_clean"]} and data.types == ("HCCX", "HPPX", "XH", "MISC")
    assert load_span_data(tmp_path / "mine.jsonl").evals["dev_clean"] == data.evals["dev_clean"]   # same every time
    other = [TaggedTitle(f"item{i:02d}", ("B-X",) + ("O",) * 5) for i in range(40)]
    data = load_span_data(write_span_file(tmp_path / "other.txt", other))
    assert data.types == ("X",) and len(data.train) + len(data.evals["dev_clean"]) + len(data.evals["test_clean"]) == 40
    with pytest.raises(ConfigError, match="neither a known data set"):
        load_span_data("no-such-data")
