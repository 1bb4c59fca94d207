"""Distributions against hand-checked values from the official functions (reference §4)."""

import math

import pytest
import torch

from dreamer_core.dists import (BoundedNormal, OneHotPolicy, TwoHot, categorical_entropy, categorical_kl,
                                sample_onehot, symexp, symexp_bins, symlog, twohot, unimix_logits)
from dreamer_core.losses import actor_loss


def old_unimix_logits(logits, unimix):
    """The former log(mix(softmax)): the reference where it is finite."""
    probs = torch.softmax(logits.float(), -1)
    return torch.log((1.0 - unimix) * probs + unimix / probs.shape[-1])


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


@pytest.mark.parametrize("unimix", [0.0, 0.01])
def test_a_logit_gap_of_120_gives_finite_logprobs_entropy_and_actor_loss(unimix):
    logits = torch.tensor([[120.0, 0.0, 0.0]], requires_grad=True)  # (N=1, A=3)
    if unimix == 0.0:  # log(softmax) underflowed to log(0) = -inf here: NaN log-probs and entropy
        assert torch.isinf(old_unimix_logits(logits, 0.0)).any()
    dist = OneHotPolicy(logits, unimix)
    actions = torch.eye(3)  # every action, the unlikely ones too, (3, A)
    logp = dist.log_prob(actions)  # (3,)
    ent = dist.entropy().expand(3)  # (3,)
    assert torch.isfinite(logp).all() and torch.isfinite(ent).all()
    assert logp[0].item() == pytest.approx(math.log((1 - unimix) + unimix / 3), abs=1e-6)
    floor = math.log(unimix / 3) if unimix else -120.0
    assert logp[1].item() == pytest.approx(floor, rel=1e-5)
    loss = actor_loss(logp, ent, torch.ones(3), torch.ones(3), 3e-4).mean()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("unimix", [0.0, 0.01])
def test_log_space_unimix_matches_the_old_formula_where_it_was_finite(unimix):
    logits = torch.randn(64, 32, 16, generator=torch.Generator().manual_seed(0)) * 10  # (N, S, C)
    logits[0, 0] = torch.tensor([200.0] + [0.0] * 15)  # finite under the old formula only with unimix
    old, new = old_unimix_logits(logits, unimix), unimix_logits(logits, unimix)
    finite = torch.isfinite(old)
    assert finite.float().mean() > 0.99
    assert torch.allclose(new[finite], old[finite], atol=1e-5)
    assert torch.isfinite(new).all() and torch.isfinite(categorical_entropy(new)).all()
    assert torch.allclose(new.exp().sum(-1), torch.ones(64, 32), atol=1e-5)


def test_unimix_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="unimix must be in"):
        unimix_logits(torch.zeros(3), 1.0)
