import io
import re
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodtags.core import LabelScore, TagSpan
from prodtags.display import compare_spans, show_labels, show_spans, spans_html, spans_markdown, spans_text, use_cjk_font

TITLE = "华为笔记本电脑轻薄本14英寸"
SPANS = [TagSpan("华为", "HPPX", 0, 2, 0.99), TagSpan("笔记本电脑", "HCCX", 2, 7, 0.9), TagSpan("14英寸", "MISC", 10, 14, 0.8)]


def _marked(html_text):
    "(data-start, data-end, text) of every <mark> in the HTML."
    import html
    return [(int(a), int(b), html.unescape(t))
            for a, b, t in re.findall(r'data-start="(\d+)" data-end="(\d+)"[^>]*>(.*?)</mark>', html_text, re.S)]


@pytest.mark.parametrize("prefix", ["", "🔥", "e\u0301", "\r\n", "👨‍👩‍👧 🇨🇳", "<b>&"])
def test_spans_stay_on_their_characters(prefix):
    "Offsets are code points: an emoji, a combining mark or a CRLF before a span does not shift it."
    text = prefix + TITLE
    spans = [TagSpan(s.text, s.type, s.start + len(prefix), s.end + len(prefix), s.score) for s in SPANS]
    assert [t for *_, t in _marked(spans_html(text, spans))] == [s.text for s in spans]
    plain = spans_text(text, spans)
    assert "[华为|HPPX][笔记本电脑|HCCX]轻薄本[14英寸|MISC]" in plain and "\r" not in plain and "\n" not in plain
    assert "<b>华为</b><sub>HPPX</sub>" in spans_markdown(text, spans)


@given(st.text(min_size=1, max_size=30), st.data())
def test_renderers_keep_every_character(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    span = TagSpan(text[start:end], "HCCX", start, end, 0.5)
    assert _marked(spans_html(text, [span])) == [(start, end, text[start:end])]
    assert "<script" not in spans_html("<script>alert(1)</script>", [])


def test_spans_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="does not match the title"):
        spans_html("小米手机", [TagSpan("华为", "HPPX", 0, 2)])
    with pytest.raises(ValueError, match="overlap"):
        show_spans(TITLE, [TagSpan("华为笔", "HPPX", 0, 3), TagSpan("笔记本电脑", "HCCX", 2, 7)])


def test_views_render_in_html_markdown_and_text():
    view = compare_spans(TITLE, {"gold": SPANS, "predicted": SPANS[:1]})
    html_text = view._repr_html_()
    assert "商品词 HCCX" in html_text and "score 0.90" in html_text and "predicted" in html_text
    assert str(view).splitlines()[0].startswith("gold") and "[华为|HPPX]" in str(view)
    assert "(no tags)" in str(show_spans(["小米", "华为"], [[], SPANS[:1]]))
    labels = show_labels("法式连衣裙", [LabelScore("连衣裙", 0.97)])
    assert "连衣裙 0.97" in str(labels) and "连衣裙" in labels._repr_html_()


def test_chinese_renders_with_the_bundled_font():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    family = use_cjk_font()
    assert "CJK" in family
    fig, ax = plt.subplots()
    ax.bar(["连衣裙", "手机壳", "笔记本"], [3, 2, 1]); ax.set_title("商品词 HCCX")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    assert not [w for w in caught if "missing from font" in str(w.message)], [str(w.message) for w in caught]


def _record(technique, f1, seed=0, data="taobao", titles=6000, **types):
    scores = {"overall": {"f1": f1, "support": 10}, **{t: {"f1": v, "support": 5} for t, v in types.items()}}
    return {"technique": technique, "data": data, "seed": seed, "train_titles": titles, "profile": "cpu",
            "device": "cpu", "threads": 1, "scores": {"test_clean": scores, "test": scores, "dev_clean": scores}}


def test_leaderboard_groups_seeds_and_separates_data_sets():
    from prodtags.display import leaderboard, seed_groups
    records = [_record("crf", 0.68), _record("e5", 0.70, 0), _record("e5", 0.72, 1), _record("e5", 0.74, 2),
               _record("e5", 0.50, 0, titles=800), _record("crf", 0.40, data="oa-mine", Brand=0.5)]
    groups = seed_groups(records)
    assert [(g[0]["technique"], len(g)) for g in groups] == [("e5", 3), ("crf", 1), ("e5", 1)]
    table = leaderboard(records).splitlines()
    assert table[2].startswith("| e5 | **72.0 ± 2.0** | 0, 1, 2 |") and len(table) == 5
    english = leaderboard(records, data="oa-mine")
    assert "clean Brand" in english and "40.0" in english and "e5" not in english
