"""λ-returns, free bits, return normalisation and the optimizer against hand computations."""

import pytest
import torch

from dreamer_core import losses
from dreamer_core.dists import unimix_logits
from dreamer_core.optim import LaProp, agc_


def test_lambda_return_matches_hand_computation():
    rew = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    val = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    con = torch.tensor([[0.9, 0.8, 0.7, 0.6]])
    lam = 0.5
    ret = losses.lambda_return(torch.zeros_like(con), 1 - con, rew, val, 1.0, lam)
    # Backwards: R3 = v3; R_t = r_{t+1} + c_{t+1} [(1 - λ) v_{t+1} + λ R_{t+1}]
    r3 = 40.0
    r2 = 3.0 + 0.6 * (0.5 * 40.0 + 0.5 * r3)
    r1 = 2.0 + 0.7 * (0.5 * 30.0 + 0.5 * r2)
    r0 = 1.0 + 0.8 * (0.5 * 20.0 + 0.5 * r1)
    assert ret.shape == (1, 3)
    assert torch.allclose(ret, torch.tensor([[r0, r1, r2]]))


def test_lambda_one_is_discounted_monte_carlo_and_zero_is_td():
    rew = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    val = torch.tensor([[5.0, 5.0, 5.0, 5.0]])
    con = torch.ones(1, 4) * 0.5
    mc = losses.lambda_return(torch.zeros_like(con), 1 - con, rew, val, 1.0, 1.0)
    assert mc[0, 0].item() == pytest.approx(1 + 0.5 * (1 + 0.5 * (1 + 0.5 * 5)))
    td = losses.lambda_return(torch.zeros_like(con), 1 - con, rew, val, 1.0, 0.0)
    assert torch.allclose(td, torch.full((1, 3), 1 + 0.5 * 5))


def test_replay_return_stops_at_episode_end_and_bootstraps():
    # last at step 2: R_1 bootstraps fully from boot_2; nothing crosses the boundary.
    reward = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    boot = torch.tensor([[7.0, 8.0, 9.0, 10.0]])
    last = torch.tensor([[False, False, True, False]])
    term = torch.zeros(1, 4, dtype=torch.bool)
    ret = losses.replay_lambda_return(last, term, reward, boot, disc=0.9, lam=0.95)
    assert ret[0, 1].item() == pytest.approx(2.0 + 0.9 * 9.0)
    term = torch.tensor([[False, False, True, False]])
    ret = losses.replay_lambda_return(last, term, reward, boot, disc=0.9, lam=0.95)
    assert ret[0, 1].item() == pytest.approx(2.0)  # terminal: no bootstrap


def test_free_bits_apply_per_batch_and_time_on_the_summed_kl():
    torch.manual_seed(0)
    post = unimix_logits(torch.randn(2, 3, 32, 4) * 3, 0.01)
    prior = post.clone()
    prior[0, 0] = unimix_logits(torch.randn(32, 4) * 3, 0.01)  # only (b=0, t=0) differs
    out = losses.kl_losses(post, prior, free_nats=1.0)
    assert out["kl_dyn"][0, 0] > 1.0
    assert out["dyn"][0, 0] == out["kl_dyn"][0, 0]  # above the floor: unclipped
    assert torch.all(out["dyn"].flatten()[1:] == 1.0)  # equal elsewhere: clipped to exactly 1 each
    # Not per latent: a per-latent floor would give 32 here, not 1.
    assert out["rep"][1, 2].item() == 1.0
    # Gradients: dyn trains the prior only, rep the posterior only.
    p = post.clone().requires_grad_(True)
    q = prior.clone().requires_grad_(True)
    out = losses.kl_losses(p, q, 0.0)
    out["dyn"].sum().backward()
    assert p.grad is None and q.grad is not None


def test_return_norm_percentiles_ema_no_debias():
    norm = losses.ReturnNorm()
    ret = torch.arange(101.0)  # P5 = 5, P95 = 95
    norm = norm.updated(ret)
    assert norm.lo == pytest.approx(0.05)
    assert norm.hi == pytest.approx(0.95)
    assert norm.scale() == 1.0  # max(1, 0.9): no bias correction keeps S at 1 early on
    for _ in range(2000):
        norm = norm.updated(ret)
    assert norm.scale() == pytest.approx(90.0, rel=1e-3)


def test_imagination_weight_is_cumprod_of_continue():
    con = torch.tensor([[0.9, 0.5, 1.0]])
    assert torch.allclose(losses.imagination_weight(con), torch.tensor([[0.9, 0.45, 0.45]]))


def test_agc_bounds_each_tensor():
    w1 = torch.nn.Parameter(torch.ones(10, 10))  # ||w|| = 10
    w2 = torch.nn.Parameter(torch.zeros(5))  # zero-init: floor 1e-3 applies
    w3 = torch.nn.Parameter(torch.ones(4))  # ||w|| = 2, small grad: untouched
    w1.grad = torch.full((10, 10), 5.0)  # ||g|| = 50 > 0.3 * 10
    w2.grad = torch.ones(5)
    w3.grad = torch.full((4,), 0.01)
    agc_([w1, w2, w3], clip=0.3, floor=1e-3)
    assert torch.linalg.vector_norm(w1.grad).item() == pytest.approx(3.0, rel=1e-5)
    assert torch.linalg.vector_norm(w2.grad).item() == pytest.approx(0.3e-3, rel=1e-4)
    assert torch.allclose(w3.grad, torch.full((4,), 0.01))


def test_laprop_first_steps_and_warmup():
    p = torch.nn.Parameter(torch.ones(3))
    opt = LaProp([p], lr=1.0, eps=1e-20, agc=0.0, warmup=10)
    p.grad = torch.tensor([2.0, -0.5, 0.0])
    opt.step()
    # Update 1 reads the schedule at count 0 (as optax does): lr 0, so the parameters stay put.
    assert torch.equal(p.detach(), torch.ones(3))
    assert opt.current_lr() == 0.0
    p.grad = torch.tensor([2.0, -0.5, 0.0])
    opt.step()
    # Update 2: nu_hat = g^2, u = sign(g), m_hat = u (constant gradient); lr warm-up 1/10.
    assert torch.allclose(p.detach(), torch.tensor([1 - 0.1, 1 + 0.1, 1.0]))
    assert opt.current_lr() == pytest.approx(0.1)
    for _ in range(20):
        p.grad = torch.tensor([2.0, -0.5, 0.0])
        opt.step()
    assert opt.current_lr() == pytest.approx(1.0)
