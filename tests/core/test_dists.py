"""Distributions against hand-checked values from the official functions (reference §4)."""

import math

import pytest
import torch

from dreamer_core.dists import (BoundedNormal, OneHotPolicy, TwoHot, categorical_kl, sample_onehot, symexp,
                                symexp_bins, symlog, twohot, unimix_logits)


def test_symlog_symexp_values_and_inverse():
    assert symlog(torch.tensor(100.0)).item() == pytest.approx(4.61512, abs=1e-5)
    assert symlog(torch.tensor(-100.0)).item() == pytest.approx(-4.61512, abs=1e-5)
    x = torch.linspace(-50, 50, 101)
    assert torch.allclose(symexp(symlog(x)), x, atol=1e-4)


def test_bins_are_symmetric_with_exact_zero():
    bins = symexp_bins(255)
    assert bins.shape == (255,)
    assert bins[127].item() == 0.0
    assert bins[128].item() == pytest.approx(0.170558, abs=1e-6)
    assert bins[126].item() == pytest.approx(-0.170558, abs=1e-6)
    assert bins[129].item() == pytest.approx(0.370205, abs=1e-6)
    assert bins[254].item() == pytest.approx(4.8517e8, rel=1e-4)
    assert torch.equal(bins, -bins.flip(0))


def test_twohot_zero_logits_predicts_zero_and_loss_ln255():
    bins = symexp_bins(255)
    dist = TwoHot(torch.zeros(5, 255), bins)
    assert torch.all(dist.mean() == 0.0)
    loss = dist.loss(torch.tensor([0.0, 1.0, -3.0, 1e4, 123.4]))
    assert torch.allclose(loss, torch.full((5,), math.log(255)), atol=1e-5)
    assert loss[0].item() == pytest.approx(5.541264, abs=1e-5)


def test_twohot_interpolates_in_raw_space():
    bins = symexp_bins(255)
    target = twohot(torch.tensor([1.0]), bins)[0]
    nonzero = torch.nonzero(target).flatten().tolist()
    assert nonzero == [131, 132]
    assert bins[131].item() == pytest.approx(0.87746, abs=1e-5)
    assert bins[132].item() == pytest.approx(1.19768, abs=1e-5)
    # Raw-space weights reproduce the target exactly.
    assert (target * bins).sum().item() == pytest.approx(1.0, abs=1e-5)
    assert target.sum().item() == pytest.approx(1.0)
    # A value on a bin gets all the weight; values beyond the edges clamp to the edge bins.
    assert twohot(torch.tensor([0.0]), bins)[0, 127].item() == 1.0
    assert twohot(torch.tensor([1e12]), bins)[0, 254].item() == 1.0


def test_twohot_gathered_loss_and_paired_mean_equal_the_dense_reference():
    bins = symexp_bins(255)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 255, generator=gen, requires_grad=True)
    targets = torch.cat([torch.randn(56, generator=gen) * 30, torch.tensor([0.0, 1.0, -1.0, 1e12, -1e12,
                                                                              bins[200].item(), 0.5, -7.25])])
    dist = TwoHot(logits, bins)
    dense = -(twohot(targets, bins) * torch.log_softmax(logits, -1)).sum(-1)
    assert torch.allclose(dist.loss(targets), dense, atol=1e-5)
    grad_gathered, = torch.autograd.grad(dist.loss(targets).sum(), logits)
    grad_dense, = torch.autograd.grad(dense.sum(), logits)
    assert torch.allclose(grad_gathered, grad_dense, atol=1e-6)
    assert torch.allclose(dist.mean(), torch.softmax(logits, -1) @ bins, rtol=1e-4, atol=1e-4)


def test_twohot_learns_a_target_by_gradient_descent():
    bins = symexp_bins(255)
    logits = torch.zeros(1, 255, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        TwoHot(logits, bins).loss(torch.tensor([42.0])).sum().backward()
        opt.step()
    assert TwoHot(logits, bins).mean().item() == pytest.approx(42.0, rel=1e-2)


def test_unimix_saturated_logit_32_classes():
    logits = torch.full((32,), -1e4)
    logits[0] = 1e4
    probs = unimix_logits(logits, 0.01).exp()
    assert probs.max().item() == pytest.approx(0.990313, abs=1e-6)
    assert probs.min().item() == pytest.approx(3.125e-4, rel=1e-5)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_straight_through_sample_is_onehot_with_gradients():
    logits = torch.randn(4, 32, 8, requires_grad=True)
    logp = unimix_logits(logits, 0.01)
    sample = sample_onehot(logp, torch.Generator().manual_seed(0))
    assert torch.allclose(sample.detach().sum(-1), torch.ones(4, 32))
    onehot = torch.nn.functional.one_hot(sample.detach().argmax(-1), 8).float()
    assert torch.allclose(sample.detach(), onehot, atol=1e-6)  # one-hot up to float rounding of p - sg(p)
    (sample * torch.randn_like(sample)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_sampling_is_seeded_and_matches_probabilities():
    logp = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(20000, 3)
    a = sample_onehot(logp, torch.Generator().manual_seed(1))
    b = sample_onehot(logp, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert torch.allclose(a.mean(0), torch.tensor([0.7, 0.2, 0.1]), atol=0.02)


def test_kl_zero_for_equal_and_positive_otherwise():
    p = unimix_logits(torch.randn(3, 32, 4), 0.01)
    q = unimix_logits(torch.randn(3, 32, 4), 0.01)
    assert torch.allclose(categorical_kl(p, p), torch.zeros(3), atol=1e-6)
    assert torch.all(categorical_kl(p, q) > 0)


def test_bounded_normal_range_and_entropy():
    dist = BoundedNormal(torch.full((2, 3), 100.0), torch.tensor([[-100.0] * 3, [100.0] * 3]))
    assert torch.allclose(dist.mean, torch.ones(2, 3), atol=1e-6)
    assert dist.std[0].min().item() == pytest.approx(0.1, abs=1e-6)
    assert dist.std[1].max().item() == pytest.approx(1.0, abs=1e-6)
    normal = torch.distributions.Normal(dist.mean, dist.std)
    action = dist.sample(torch.Generator().manual_seed(0))
    assert torch.allclose(dist.log_prob(action), normal.log_prob(action).sum(-1), atol=1e-5)
    assert torch.allclose(dist.entropy(), normal.entropy().sum(-1), atol=1e-6)


def test_onehot_policy_logprob_and_entropy():
    dist = OneHotPolicy(torch.zeros(2, 4))
    action = dist.sample(torch.Generator().manual_seed(0))
    assert torch.allclose(dist.log_prob(action), torch.full((2,), math.log(0.25)))
    assert torch.allclose(dist.entropy(), torch.full((2,), math.log(4)))
