"""The imagination heads' first layers as one matmul (`nets.shared_first_layers`, `Agent.imagination_heads`)
give the values and gradients of each head run on its own, which is the reference kept here."""

import copy

import pytest
import torch
import torch.nn.functional as F

from dreamer_core.agent import read_metrics
from dreamer_core.nets import MLP, Head, shared_first_layers
from test_agent import batch, small_agent


def reference_imagination_heads(agent, imag_feat, post_feat, actions):
    """The heads one by one on the rows each reads (the code before the shared first layer)."""
    with torch.no_grad():
        rew = F.pad(agent.head_dist(agent.reward, imag_feat[1:]).mean(), (0, 0, 1, 0))  # (H+1, N)
        con = torch.sigmoid(agent.cont(imag_feat)[..., 0].float())  # (H+1, N)
        slow_imag = agent.head_dist(agent.slow_critic, imag_feat[:-1]).mean()  # (H, N)
        slow_post = agent.head_dist(agent.slow_critic, post_feat).mean()  # (B, T)
    dist = agent.actor(imag_feat[:-1])  # over (H, N, A)
    return (rew, con, slow_imag, slow_post), (agent.critic(imag_feat), dist.log_prob(actions[:-1]), dist.entropy())


def assert_near(got, want, name=""):
    """Within 1e-5 of the reference tensor's largest magnitude: the one matmul sums in another order."""
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.detach().abs().max()) + 1e-12,
                               msg=name)


def grads(module):
    return {n: None if p.grad is None else p.grad.clone() for n, p in module.named_parameters()}


@pytest.mark.parametrize("input_grad", [False, True])
def test_shared_first_layers_equal_each_mlp_alone_in_values_and_gradients(input_grad):
    torch.manual_seed(0)
    heads = [Head(12, 2, 8, 5, 1.0), Head(12, 1, 6, 3, 1.0), Head(12, 0, 8, 4, 1.0), Head(12, 3, 8, 2, 1.0)]
    trained = [True, False, False, True]  # a target head (index 1) and a head without layers (index 2)
    x = torch.randn(3, 7, 12, requires_grad=input_grad)  # (H+1, N, F)
    weights = torch.randn(4, 3, 7, 1)  # a loss weight per head output

    def loss(outs):
        return sum((o * w).sum() for o, w in zip(outs, weights))

    plain = [h(x) if keep else h(x.detach()).detach() for h, keep in zip(heads, trained)]
    loss(plain).backward()
    expected = [grads(h) for h in heads]
    expected_x = x.grad.clone() if input_grad else None
    for h in heads:
        h.zero_grad(set_to_none=True)
    x.grad = None

    first = shared_first_layers(x, [h.mlp for h in heads], trained)
    shared = [h.from_first(f) if keep else h.from_first(f).detach() for h, f, keep in zip(heads, first, trained)]
    for a, b in zip(shared, plain):
        assert_near(a, b)
    loss(shared).backward()
    for h, keep, want in zip(heads, trained, expected):
        got = grads(h)
        for name in want:
            if keep:
                assert_near(got[name], want[name], name)
            else:  # a target head gets no gradient at all (not zeros)
                assert got[name] is None, name
    if input_grad:
        assert_near(x.grad, expected_x)


def test_shared_first_layers_under_bf16_autocast_match_the_plain_linears_within_rounding():
    torch.manual_seed(0)
    mlps = [MLP(40, 2, 16), MLP(40, 1, 16)]
    x = torch.randn(64, 40)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain = [m(x) for m in mlps]
        shared = [m.from_first(f) for m, f in zip(mlps, shared_first_layers(x, mlps, [True, True]))]
    for a, b in zip(shared, plain):
        assert a.dtype == b.dtype == torch.bfloat16
        torch.testing.assert_close(a.float(), b.float(), rtol=2e-2, atol=2e-2)
    sum(o.float().square().sum() for o in shared).backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for m in mlps for p in m.parameters())


def test_imagination_heads_give_the_reference_losses_and_gradients():
    agent = small_agent(lr=1e-3, warmup=1)
    data = batch(agent)
    agent.train_step(data, torch.Generator().manual_seed(0))  # the critic's output layer starts at zero: move it
    reference = copy.deepcopy(agent)
    reference.imagination_heads = lambda *args: reference_imagination_heads(reference, *args)
    for trial in (agent, reference):
        trial.zero_grad(set_to_none=True)
    start, prev, rest = agent.split_context(data)
    outs = []
    for trial in (agent, reference):
        _, states, _, _ = trial.observe(start, prev, rest, torch.Generator().manual_seed(1))
        retnorm, out, metrics = trial.actor_critic_losses(states, rest, torch.Generator().manual_seed(2),
                                                          trial.retnorm)
        (out["policy"].mean() + out["value"].mean() + out["repval"].mean()).backward()
        outs.append((retnorm, out, metrics))
    (norm_a, out_a, metrics_a), (norm_b, out_b, metrics_b) = outs
    for key in out_a:
        assert_near(out_a[key], out_b[key], key)
    for key in metrics_a:
        assert_near(metrics_a[key], metrics_b[key], key)
    torch.testing.assert_close(norm_a.hi, norm_b.hi, rtol=1e-5, atol=1e-7)
    moved = 0
    for (name, p), q in zip(agent.named_parameters(), reference.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert_near(p.grad, q.grad, name)
            moved += bool(p.grad.abs().sum() > 0)
    assert moved > 10  # the comparison saw real gradients (actor, critic, and the world model through repval)
    assert all(p.grad is None for p in agent.slow_critic.parameters())


def test_train_steps_with_shared_first_layers_reproduce_the_reference_steps():
    agent = small_agent(lr=1e-3, warmup=1)
    reference = copy.deepcopy(agent)
    reference.imagination_heads = lambda *args: reference_imagination_heads(reference, *args)
    runs = []
    for trial in (agent, reference):
        gen = torch.Generator().manual_seed(0)
        runs.append([read_metrics(trial.train_step(batch(trial, seed=i), gen)[1]) for i in range(3)])
    for step_a, step_b in zip(*runs):
        assert step_a == pytest.approx(step_b, rel=1e-5, abs=1e-7)
    for (name, a), b in zip(agent.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, msg=name)
