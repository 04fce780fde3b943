"§6 multimodal: the paired set, masking, the fusion variants, the tagger's save/load and bad input, in seconds."
import numpy as np
import pytest
import torch
from PIL import Image

from prodtags.core import CheckpointError, ConfigError, DataFormatError, DataNotFoundError
from prodtags.data import TaggedTitle, Vocab
from prodtags.core import LabelScore
from prodtags.data import FASHION_MNIST_CLASSES
from prodtags.multimodal import (FUSIONS, FusionClassifier, MultimodalClassifier, PairedBatches, PairedTitle,
                                 encode_text, eval_pairs, evaluate_fusion, mask_title, paired_titles, prepare_photo,
                                 product_class, split_paired)
from prodtags.taggers import ProductClassifier, load_tagger


def _title(text, word):
    s = text.index(word)
    tags = ["O"] * len(text)
    tags[s] = "B-HCCX"
    for i in range(s + 1, s + len(word)): tags[i] = "I-HCCX"
    return TaggedTitle(text, tuple(tags))


def test_product_words_map_to_classes():
    assert product_class("连衣裙") == 3 and product_class("半身裙") == 3 and product_class("双肩包") == 8
    assert product_class("t恤") == 0 and product_class("马丁靴") == 9 and product_class("凉鞋") == 5
    assert product_class("面包") is None and product_class("纸尿裤") is None and product_class("手机") is None


def test_paired_titles_keep_one_class_and_drop_duplicates():
    titles = [_title("韩版女连衣裙夏", "连衣裙"), _title("韩版女连衣裙夏", "连衣裙"), _title("全麦面包早餐", "面包"),
              _title("真皮双肩包男", "双肩包")]
    paired = paired_titles(titles)
    assert [(p.text, p.label) for p in paired] == [("韩版女连衣裙夏", 3), ("真皮双肩包男", 8)]
    assert paired[0].product_spans == ((3, 6),)


def test_mask_title_hides_every_class_word():
    p = PairedTitle("韩版连衣裙配裙子", 3, ((2, 5),))
    masked = mask_title(p)
    assert len(masked) == len(p.text) and "裙" not in masked and masked.startswith("韩版□□□")


def test_split_has_no_leakage():
    titles = [PairedTitle(f"标题{i}", i % 3, ()) for i in range(60)]
    s = split_paired(titles, seed=0)
    texts = [set(t.text for t in s[k]) for k in ("train", "dev", "test")]
    assert sum(map(len, texts)) == 60 and not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    with pytest.raises(ConfigError): split_paired(titles + titles[:1])


def _batch(n=4, t=7, vocab=30):
    return {"input_ids": torch.randint(2, vocab, (n, t)), "attention_mask": torch.ones(n, t, dtype=torch.bool),
            "images": torch.rand(n, 1, 28, 28) * 2 - 1, "labels": torch.arange(n) % 10}


@pytest.mark.parametrize("fusion", FUSIONS)
def test_fusion_variants_shapes_and_gradients(fusion):
    torch.manual_seed(0)
    m = FusionClassifier(30, fusion=fusion, dim=16, heads=2)
    b = _batch()
    b["attention_mask"][0, 3:] = False; b["input_ids"][0, 3:] = 0          # padding in one title
    assert m(b).shape == (4, 10)
    m.loss(b).backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_which_modality_each_variant_uses():
    torch.manual_seed(0)
    b = _batch()
    other_img = b | {"images": torch.rand(4, 1, 28, 28) * 2 - 1}
    other_txt = b | {"input_ids": torch.randint(2, 30, (4, 7))}
    text, image, fused = (FusionClassifier(30, fusion=f, dim=16).eval() for f in ("text", "image", "gated"))
    assert torch.equal(text(b), text(other_img)) and not torch.equal(text(b), text(other_txt))
    assert torch.equal(image(b), image(other_txt)) and not torch.equal(image(b), image(other_img))
    assert not torch.equal(fused(b), fused(other_img)) and not torch.equal(fused(b), fused(other_txt))
    assert FusionClassifier(30, fusion="gated", dim=16).gate_values(b).shape == (4,)


def test_effnet_variant_takes_cached_features():
    m = FusionClassifier(30, fusion="xattn", image_encoder="effnet", dim=16, heads=2)
    assert m(_batch() | {"images": torch.randn(4, 9, 1280)}).shape == (4, 10)
    with pytest.raises(ValueError): m(_batch() | {"images": torch.randn(4, 9, 100)})


def test_bad_config():
    with pytest.raises(ConfigError): FusionClassifier(30, fusion="sum")
    with pytest.raises(ConfigError): FusionClassifier(30, image_encoder="vit")


def test_batches_and_evaluation():
    titles = [PairedTitle("韩版连衣裙", 3, ((2, 5),)), PairedTitle("真皮双肩包", 8, ((2, 5),)), PairedTitle("男士短靴", 9, ((2, 4),))]
    vocab = Vocab.build(t.text for t in titles)
    photos, labels = torch.rand(30, 1, 28, 28) * 2 - 1, torch.arange(30) % 10
    batches = list(PairedBatches(titles, photos, labels, vocab, batch_size=2, mask_prob=1.0))
    assert len(batches) == 2 and batches[0]["images"].shape == (2, 1, 28, 28)
    assert all(vocab.itos[i] != "裙" for b in batches for i in b["input_ids"].flatten().tolist())  # all masked
    pairs = eval_pairs(titles, labels, per_title=2)
    assert len(pairs) == 6 and all(labels[p] == titles[i].label for i, p in pairs)
    m = FusionClassifier(len(vocab), fusion="concat", dim=16)
    scores = evaluate_fusion(m, titles, pairs, photos, torch.full((1, 1, 28, 28), -1.0), vocab)
    assert len(scores) == 4 and all(0 <= s["accuracy"] <= 1 for s in scores.values())


def test_encode_text_handles_empty_titles():
    vocab = Vocab.build(["包"])
    ids, mask = encode_text(["", "包包"], vocab)
    assert ids.shape == (2, 2) and mask[0].sum() == 0 and mask[1].sum() == 2
    m = FusionClassifier(len(vocab), fusion="xattn", dim=16, heads=2).eval()
    out = m({"input_ids": ids, "attention_mask": mask, "images": torch.zeros(2, 1, 28, 28)})
    assert torch.isfinite(out).all()


@pytest.fixture()
def saved_tagger(tmp_path):
    vocab = Vocab.build(["韩版连衣裙", "真皮双肩包"])
    tagger = MultimodalClassifier(FusionClassifier(len(vocab), fusion="gated", dim=16), vocab, "cpu")
    tagger.save(tmp_path / "mm")
    return tagger, tmp_path / "mm"


def test_save_load_round_trip_and_predict(saved_tagger, tmp_path):
    tagger, folder = saved_tagger
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}
    loaded = load_tagger(folder)
    assert isinstance(loaded, MultimodalClassifier) and isinstance(loaded, ProductClassifier)
    img = np.zeros((40, 30), np.uint8); img[10:30, 5:25] = 200          # a light object on black
    Image.fromarray(img).save(tmp_path / "bag.png")
    a, b = tagger.predict("真皮双肩包", tmp_path / "bag.png"), loaded.predict("真皮双肩包", tmp_path / "bag.png")
    assert a == b and len(a) == 3 and all(isinstance(l, LabelScore) and l.label in FASHION_MNIST_CLASSES for l in a)
    assert a[0].score >= a[1].score >= a[2].score
    both = loaded.predict(["真皮双肩包", "连衣裙"], [tmp_path / "bag.png", None])   # no photo: a blank one
    # a batch of two runs other kernels than a batch of one: the same labels, scores equal to float32 rounding
    assert [l.label for l in both[0]] == [l.label for l in a] and len(both[1]) == 3
    assert [l.score for l in both[0]] == pytest.approx([l.score for l in a], abs=1e-6)


def test_bad_input(saved_tagger, tmp_path, capsys):
    tagger, folder = saved_tagger
    with pytest.raises(DataNotFoundError): tagger.predict("包", tmp_path / "missing.jpg")
    (tmp_path / "fake.jpg").write_text("not an image")
    with pytest.raises(DataFormatError): tagger.predict("包", tmp_path / "fake.jpg")
    with pytest.raises(DataFormatError, match="28, 28"): tagger.predict("包", torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="too small"): tagger.predict("包", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="greyscale"): prepare_photo(np.zeros((28, 28, 3), np.uint8))
    with pytest.raises(TypeError): tagger.predict(42, None)
    with pytest.raises(ConfigError, match="2 titles but 1 images"): tagger.predict(["包", "裙"], ["a.jpg"])
    with pytest.raises(CheckpointError): MultimodalClassifier.load(tmp_path / "nothing-here")


def test_prepare_photo_inverts_light_backgrounds():
    img = np.full((50, 50), 255, np.uint8); img[10:40, 20:30] = 0       # dark object on white, like a catalogue photo
    x = prepare_photo(img)
    assert x.shape == (1, 1, 28, 28) and x[0, 0, 0, 0] == -1 and x.max() > 0.5


def test_cli_tags_a_title_with_a_photo(saved_tagger, tmp_path):
    import io, json
    from prodtags.cli import main as cli
    _, folder = saved_tagger
    img = np.zeros((40, 30), np.uint8); img[10:30, 5:25] = 200
    Image.fromarray(img).save(tmp_path / "bag.png")
    out = io.StringIO()
    assert cli(["tag", "--model", str(folder), "--image", str(tmp_path / "bag.png"), "--format", "jsonl", "真皮双肩包"],
               out=out) == 0
    row = json.loads(out.getvalue())
    assert row["text"] == "真皮双肩包" and [l["label"] in FASHION_MNIST_CLASSES for l in row["labels"]] == [True] * 3
    assert cli(["tag", "--model", str(folder), "--image", str(tmp_path / "missing.png"), "包"], out=io.StringIO()) == 2
