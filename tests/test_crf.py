"""The CRF layer of prodtags.rnn against brute-force enumeration of every label path."""
import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prodtags.data import TagSet
from prodtags.rnn import CRF, bio_allowed, crf_decode


def brute_force(crf, emissions, n):
    "log Z, best path, best score and marginals [n, L] of one sequence, by enumerating all L^n paths."
    L = crf.num_tags
    paths = torch.tensor(list(itertools.product(range(L), repeat=n)))
    with torch.no_grad():
        scores = crf.score(emissions[:n].unsqueeze(0).expand(len(paths), -1, -1), paths)
    probs = (scores - scores.logsumexp(0)).exp()
    marg = torch.stack([torch.zeros(L, dtype=probs.dtype).index_add(0, paths[:, t], probs) for t in range(n)])
    return scores.logsumexp(0).item(), paths[scores.argmax()].tolist(), scores.max().item(), marg


@st.composite
def cases(draw):
    constrained = draw(st.booleans())
    labels = TagSet(["X", "Y"][: draw(st.integers(1, 2))]).labels if constrained else None
    L = len(labels) if labels else draw(st.integers(1, 4))
    B, T = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    lengths = [T] + [draw(st.integers(1, T)) for _ in range(B - 1)]
    seed = draw(st.integers(0, 2**31 - 1))
    return labels, L, lengths, T, seed


def make(labels, L, lengths, T, seed):
    g = torch.Generator().manual_seed(seed)
    crf = CRF(L, labels)
    with torch.no_grad():
        for p in crf.parameters(): p.copy_(torch.randn(p.shape, generator=g) * 2)
    emissions = torch.randn(len(lengths), T, L, generator=g) * 3
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    return crf, emissions, mask


@given(cases())
@settings(max_examples=60)
def test_forward_viterbi_marginals_match_brute_force(case):
    labels, L, lengths, T, seed = case
    crf, emissions, mask = make(*case)
    with torch.no_grad():
        log_z = crf.log_partition(emissions, mask)
        best, best_score = crf.viterbi(emissions, mask)
        marg = crf.marginals(emissions, mask)
    fast_ids, fast_conf = crf_decode(crf, emissions, mask)
    for b, n in enumerate(lengths):
        bz, bpath, bscore, bmarg = brute_force(crf, emissions[b], n)
        assert log_z[b].item() == pytest.approx(bz, abs=1e-3)
        assert best_score[b].item() == pytest.approx(bscore, abs=1e-3)
        # ties between paths are measure-zero with random floats; compare scores to be safe, then the path
        with torch.no_grad():
            vit = crf.score(emissions[b:b + 1, :n], best[b:b + 1, :n]).item()
        assert vit == pytest.approx(bscore, abs=1e-3)
        assert best[b, :n].tolist() == bpath
        assert fast_ids[b, :n].tolist() == bpath
        assert torch.allclose(marg[b, :n], bmarg, atol=1e-4)
        chosen = bmarg.gather(1, torch.tensor(bpath)[:, None]).squeeze(1)
        assert torch.allclose(fast_conf[b, :n], chosen.float(), atol=1e-4)


@given(cases(), st.integers(1, 4))
@settings(max_examples=40)
def test_padding_changes_nothing(case, extra):
    labels, L, lengths, T, seed = case
    crf, emissions, mask = make(*case)
    junk = torch.cat([emissions, 50 * torch.randn(len(lengths), extra, L)], 1)      # arbitrary values in the padding
    junk_mask = torch.cat([mask, torch.zeros(len(lengths), extra, dtype=torch.bool)], 1)
    with torch.no_grad():
        assert torch.allclose(crf.log_partition(emissions, mask), crf.log_partition(junk, junk_mask), atol=1e-4)
        a, _ = crf.viterbi(emissions, mask)
        b, _ = crf.viterbi(junk, junk_mask)
        assert (a[mask] == b[:, :T][mask]).all()
        assert torch.allclose(crf.marginals(emissions, mask)[mask], crf.marginals(junk, junk_mask)[:, :T][mask], atol=1e-5)
    fa, ca = crf_decode(crf, emissions, mask)
    fb, cb = crf_decode(crf, junk, junk_mask)
    assert (fa[mask] == fb[:, :T][mask]).all() and torch.allclose(ca[mask], cb[:, :T][mask], atol=1e-5)
    # each sequence alone gives the same answers as in the batch
    for i, n in enumerate(lengths):
        with torch.no_grad():
            assert crf.log_partition(emissions[i:i + 1, :n]).item() == pytest.approx(
                crf.log_partition(emissions, mask)[i].item(), abs=1e-4)


def test_nll_is_positive_and_differentiable():
    crf, emissions, mask = make(None, 3, [5, 2], 5, 0)
    emissions.requires_grad_(True)
    tags = torch.randint(0, 3, (2, 5)).masked_fill(~mask, -100)                     # pads hold -100, as in batches
    loss = crf.nll(emissions, tags, mask)
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(emissions.grad).all()
    assert emissions.grad[1, 2:].abs().max() == 0                                   # no gradient into padding
    assert crf.transitions.grad is not None and torch.isfinite(crf.transitions.grad).all()


def test_bio_constraints():
    labels = TagSet(["HCCX", "XH"]).labels
    allowed, first = bio_allowed(labels)
    i = labels.index
    assert not allowed[i("O"), i("I-HCCX")] and allowed[i("B-HCCX"), i("I-HCCX")] and allowed[i("I-HCCX"), i("I-HCCX")]
    assert not allowed[i("B-XH"), i("I-HCCX")] and not first[i("I-XH")] and first[i("B-XH")]
    crf, emissions, mask = make(labels, len(labels), [6, 4], 6, 1)
    emissions[:, :, i("I-HCCX")] += 20                                              # push hard towards I-HCCX everywhere
    best, _ = crf.viterbi(emissions, mask)
    for row, n in zip(best.tolist(), [6, 4]):
        tags = [labels[j] for j in row[:n]]
        assert not tags[0].startswith("I-")
        assert all(not (c.startswith("I-") and (p == "O" or p[2:] != c[2:])) for p, c in zip(tags, tags[1:]))


def test_shape_errors():
    crf = CRF(3)
    with pytest.raises(ValueError, match=r"\[B, T, L\]"):
        crf.log_partition(torch.randn(4, 3))
    with pytest.raises(ValueError, match="does not match"):
        crf.log_partition(torch.randn(2, 4, 3), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one position"):
        crf.log_partition(torch.randn(1, 2, 3), torch.tensor([[False, True]]))
