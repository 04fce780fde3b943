"§2 GAN: shapes, conditioning, the FID-style distance, training steps and save/load, all in seconds."
import pytest
import torch

from prodtags.core import ConfigError
from prodtags.gan import (Discriminator, FashionClassifier, Generator, frechet_distance, GanSettings,
                          generate, interpolate, predict_classes, summarize_augmentation, train_classifier, train_gan)
from prodtags.persist import load_model, save_model


def test_shapes():
    G, D = Generator(z_dim=16, width=8), Discriminator(width=8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)
    clf = FashionClassifier(width=8, feat_dim=32)
    assert clf(x).shape == (5, 10) and clf.features(x).shape == (5, 32)


def test_bad_shapes_are_clear_errors():
    G, D = Generator(z_dim=16, width=8), Discriminator(width=8)
    with pytest.raises(ValueError, match=r"\[B, 16\]"): G(torch.randn(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\[B, 1, 28, 28\]"): D(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="conditional"): Generator(16, 8, num_classes=10)(torch.randn(2, 16))


def test_conditional_generator_depends_on_the_label():
    torch.manual_seed(0)
    G = Generator(z_dim=16, width=8, num_classes=10).eval()
    z = torch.randn(4, 16)
    a, b = G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.full((4,), 7))
    assert not torch.allclose(a, b)                                  # same noise, other class -> other image
    assert torch.equal(G(z, torch.zeros(4, dtype=torch.long)), a)    # deterministic in eval mode
    D = Discriminator(width=8, num_classes=10).eval()
    assert not torch.allclose(D(a, torch.zeros(4, dtype=torch.long)), D(a, torch.full((4,), 7)))


def test_generate_and_interpolate():
    G = Generator(z_dim=16, width=8, num_classes=10)
    imgs = generate(G, 6, [0, 1, 2, 3, 4, 5], seed=1)
    assert imgs.shape == (6, 1, 28, 28) and torch.equal(imgs, generate(G, 6, [0, 1, 2, 3, 4, 5], seed=1))
    with pytest.raises(ValueError): generate(G, 6, [0, 1])
    row = interpolate(G, steps=5, label=3)
    assert row.shape == (5, 1, 28, 28)


def test_train_gan_runs_and_records_history():
    X, Y = torch.rand(64, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (64,))
    G, D = Generator(16, 8, 10), Discriminator(8, 10)
    before = [p.clone() for p in G.parameters()]
    h = train_gan(G, D, X, Y, steps=3, batch_size=8, log_every=1)
    assert h["step"] == [1, 2, 3] and len(h["loss_D"]) == 3 and all(0 <= p <= 1 for p in h["D_real"])
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    with pytest.raises(ConfigError): train_gan(Generator(16, 8, 10), Discriminator(8, 0), X, Y, steps=1)
    with pytest.raises(ConfigError): train_gan(G, D, X, None, steps=1)


def test_frechet_distance():
    torch.manual_seed(0)
    a = torch.randn(500, 4)
    assert abs(frechet_distance(a, a)) < 1e-6
    shifted = frechet_distance(a, a + 3)
    assert abs(shifted - 4 * 9) < 1e-3                                # |mean shift|^2 = 4 * 3^2, same covariance
    assert frechet_distance(a, torch.randn(500, 4)) < frechet_distance(a, 2 * torch.randn(500, 4))
    with pytest.raises(ValueError): frechet_distance(a, torch.randn(10, 5))


def test_classifier_and_augmentation_summary():
    X, Y = torch.rand(40, 1, 28, 28) * 2 - 1, torch.arange(40) % 10
    clf = train_classifier(X, Y, steps=2, batch_size=8, width=4, extra=(X[:10], Y[:10]))
    pred, feats = predict_classes(clf, X)
    assert pred.shape == (40,) and feats.shape == (40, 128)
    rows = [{"per_class": 10, "generated": g, "seed": s, "accuracy": 0.5 + 0.1 * g + 0.01 * s} for s in (0, 1) for g in (False, True)]
    summary = summarize_augmentation(rows)[10]
    assert summary["gain"]["mean"] == pytest.approx(0.1) and summary["real_only"]["n"] == 2


def test_save_load_round_trip(tmp_path):
    G = Generator(z_dim=16, width=8, num_classes=10)
    save_model(G, tmp_path / "g", {"note": "test"})
    back, meta = load_model(tmp_path / "g")
    assert isinstance(back, Generator) and meta["config"] == {"z_dim": 16, "width": 8, "num_classes": 10}
    assert torch.equal(generate(back, 3, [1, 2, 3]), generate(G.eval(), 3, [1, 2, 3]))


def test_settings_per_profile():
    assert set(GanSettings.per_profile) == {"smoke", "cpu", "gpu"}
    steps = [GanSettings.for_profile(p).cgan_steps for p in ("smoke", "cpu", "gpu")]
    assert steps[0] < steps[1] <= steps[2]


def test_extras_leave_the_real_images_of_every_step_unchanged():
    "Both arms of the augmentation experiment see the same real images (and flips) at every step."
    X, Y = torch.rand(40, 1, 28, 28) * 2 - 1, torch.arange(40) % 10
    extra = (torch.rand(20, 1, 28, 28) * 2 - 1, torch.arange(20) % 10)
    a = train_classifier(X, Y, steps=3, batch_size=8, width=4, seed=3)
    b = train_classifier(X, Y, steps=3, batch_size=8, width=4, seed=3, extra=extra, extra_per_batch=0)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    c = train_classifier(X, Y, steps=3, batch_size=8, width=4, seed=3, extra=extra, extra_per_batch=4)
    assert not all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), c.state_dict().values()))
