import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodtags.data import TaggedTitle
from prodtags.metrics import entity_scores, error_kinds

TYPES = ["HCCX", "HPPX", "XH", "MISC"]
LABELS = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]


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


def test_error_kinds_sorts_each_span():
    gold = TaggedTitle("华为笔记本电脑包", ("B-HPPX", "I-HPPX", "B-HCCX", "I-HCCX", "I-HCCX", "I-HCCX", "I-HCCX", "O"))
    pred = ["B-HCCX", "I-HCCX", "B-HCCX", "I-HCCX", "I-HCCX", "O", "O", "B-MISC"]
    assert error_kinds([gold], [pred]) == {"right": 0, "wrong type": 1, "wrong boundaries": 1, "missed": 0,
                                           "spurious": 1}
    assert error_kinds([gold], [list(gold.tags)])["right"] == 2
