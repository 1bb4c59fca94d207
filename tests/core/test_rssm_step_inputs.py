"""The RSSM's steps with their state-free inputs made once per sequence (`RSSM.step_weights`, the action part of
dynhid and the token part of the posterior for all T steps before the observe loop) give the values and gradients
of the plain formulation, kept here: dynhid as the block-linear layer over [h_group, projected h, z, a] of every
group, and the posterior's first layer over [h, token]."""

import pytest
import torch
import torch.nn.functional as F

from dreamer_core.config import make_config
from dreamer_core.dists import sample_onehot, unimix_logits
from dreamer_core.rssm import RSSM, Latent, scale_action


def debug_rssm(act_dim=3, token_dim=10) -> RSSM:
    m = make_config("dmc_walker_walk", "proprio", "debug").model
    torch.manual_seed(0)
    rssm = RSSM(m.deter, m.hidden, m.stoch, m.classes, m.blocks, act_dim, token_dim, m.img_layers, m.obs_layers,
                m.unimix)
    with torch.no_grad():  # zero-initialised biases would hide a bias added twice or not at all
        for name, p in rssm.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.3)
    return rssm


def plain_recur(rssm: RSSM, deter, stoch, action):
    """HEAD's block GRU step: each group's dynhid input is [its slice of h, projected h, z and a]."""
    n, g, d = deter.shape[0], rssm.blocks, rssm.deter
    x = torch.cat([rssm.dynin_h(deter), rssm.dynin_z(stoch.flatten(-2)), rssm.dynin_a(scale_action(action))], -1)
    grouped = torch.cat([deter.reshape(n, g, d // g), x[:, None].expand(n, g, x.shape[-1])], -1)  # (N, G, D/G+3U)
    hid = F.silu(rssm.dynhid_norm(rssm.dynhid(grouped.reshape(n, -1))))  # (N, D)
    gates = rssm.dyngru(hid).reshape(n, g, 3, d // g)  # (N, G, 3, D/G)
    reset, cand, update = torch.sigmoid(gates[:, :, 0]), gates[:, :, 1], torch.sigmoid(gates[:, :, 2] - 1.0)
    cand = torch.tanh(reset * cand)
    prev = deter.reshape(n, g, d // g)
    return (update * cand + (1.0 - update) * prev).reshape(n, d)  # (N, D)


def plain_posterior(rssm: RSSM, deter, token):
    x = rssm.post_mlp(rssm.post_in(torch.cat([deter, token], -1)))  # (N, U)
    logits = rssm.post_out(x).reshape(*deter.shape[:-1], rssm.stoch, rssm.classes)
    return unimix_logits(logits, rssm.unimix)  # (N, S, C)


def plain_observe(rssm: RSSM, carry: Latent, tokens, prev_actions, is_first, gen):
    B, T = tokens.shape[:2]
    keep = (~is_first.bool()).float()  # (B, T)
    uniform = rssm._uniform((T, B), tokens, gen)  # drawn as `observe` draws it
    deter, stoch = carry.deter, carry.stoch
    deters, stochs, posts = [], [], []
    for t in range(T):
        k = keep[:, t, None]
        deter = plain_recur(rssm, deter * k, stoch * k[..., None], prev_actions[:, t] * k)
        post = plain_posterior(rssm, deter, tokens[:, t])
        stoch = sample_onehot(post, uniform=uniform[t])
        deters.append(deter)
        stochs.append(stoch)
        posts.append(post)
    deters = torch.stack(deters, 1)
    return deters, torch.stack(stochs, 1), torch.stack(posts, 1), rssm.prior(deters)


def plain_imagine(rssm: RSSM, start: Latent, actions, gen):
    state, deters, priors = start, [], []
    for t in range(actions.shape[1]):
        uniform = rssm._uniform(actions.shape[:1], state.deter, gen)  # drawn as `img_step` draws it
        deter = plain_recur(rssm, state.deter, state.stoch, actions[:, t])
        prior = rssm.prior(deter)
        state = Latent(deter, sample_onehot(prior, uniform=uniform))
        deters.append(deter)
        priors.append(prior)
    return torch.stack(deters, 1), torch.stack(priors, 1)


def assert_near(got, want, name=""):
    """Within 1e-5 of the reference tensor's largest magnitude (the sums are regrouped, not changed)."""
    want = want.detach()
    torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-5 * float(want.abs().max()) + 1e-12,
                               msg=name)


def gradients(rssm, loss, *inputs):
    params = [p for _, p in rssm.named_parameters()]
    return torch.autograd.grad(loss, params + list(inputs), allow_unused=True)


@pytest.mark.parametrize("first", [False, True])
def test_observe_gives_the_plain_steps_values_and_gradients(first):
    rssm = debug_rssm()
    B, T = 3, 7
    torch.manual_seed(1)
    tokens = torch.randn(B, T, 10, requires_grad=True)  # (B, T, E)
    actions = torch.randn(B, T, 3, requires_grad=True)  # (B, T, A)
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[1, 3] = first  # a reset mid-window
    carry = Latent(torch.randn(B, rssm.deter), torch.eye(rssm.classes)[torch.randint(rssm.classes, (B, rssm.stoch))])
    weights = [torch.randn(B, T, rssm.deter), torch.randn(B, T, rssm.stoch, rssm.classes)]

    def loss(deters, posts, priors):
        return (deters * weights[0]).sum() + (posts * weights[1]).sum() + (priors.exp() * weights[1]).sum()

    _, states, post, prior = rssm.observe(carry, tokens, actions, is_first, torch.Generator().manual_seed(2))
    want_deter, want_stoch, want_post, want_prior = plain_observe(rssm, carry, tokens, actions, is_first,
                                                                  torch.Generator().manual_seed(2))
    for got, want, name in ((states.deter, want_deter, "deter"), (states.stoch, want_stoch, "stoch"),
                            (post, want_post, "post"), (prior, want_prior, "prior")):
        assert_near(got, want, name)
    got = gradients(rssm, loss(states.deter, post, prior), tokens, actions)
    want = gradients(rssm, loss(want_deter, want_post, want_prior), tokens, actions)
    names = [n for n, _ in rssm.named_parameters()] + ["tokens", "actions"]
    for g, w, name in zip(got, want, names):
        if w is None:
            assert g is None or not g.abs().any(), name
        else:
            assert_near(g, w, name)
    assert sum(w is not None and bool(w.abs().any()) for w in want) >= 15  # the comparison saw real gradients


def test_imagine_gives_the_plain_steps_values_and_gradients():
    rssm = debug_rssm()
    N, H = 5, 4
    torch.manual_seed(3)
    start = Latent(torch.randn(N, rssm.deter, requires_grad=True),
                   torch.eye(rssm.classes)[torch.randint(rssm.classes, (N, rssm.stoch))])
    actions = torch.randn(N, H, 3, requires_grad=True)  # (N, H, A)
    traj, _, prior = rssm.imagine(start, actions, H, torch.Generator().manual_seed(4))
    want_deter, want_prior = plain_imagine(rssm, start, actions, torch.Generator().manual_seed(4))
    assert_near(traj.deter[:, 1:], want_deter, "deter")
    assert_near(prior, want_prior, "prior")
    weight = torch.randn_like(want_deter)
    got = gradients(rssm, (traj.deter[:, 1:] * weight).sum() + prior.exp().sum(), start.deter, actions)
    want = gradients(rssm, (want_deter * weight).sum() + want_prior.exp().sum(), start.deter, actions)
    for g, w in zip(got, want):
        if w is None:
            assert g is None or not g.abs().any()
        else:
            assert_near(g, w)


def test_posterior_and_acting_step_give_the_plain_values():
    rssm = debug_rssm()
    torch.manual_seed(5)
    deter, token = torch.randn(4, rssm.deter), torch.randn(4, 10)
    assert_near(rssm.posterior(deter, token), plain_posterior(rssm, deter, token))
    carry = Latent(torch.randn(4, rssm.deter), torch.eye(rssm.classes)[torch.randint(rssm.classes, (4, rssm.stoch))])
    action, is_first = torch.randn(4, 3), torch.tensor([False, True, False, False])
    state, post = rssm.obs_step(carry, token, action, is_first, torch.Generator().manual_seed(6))
    want_deter, _, want_post, _ = plain_observe(rssm, carry, token[:, None], action[:, None], is_first[:, None],
                                                torch.Generator().manual_seed(6))
    assert_near(state.deter, want_deter[:, 0])
    assert_near(post, want_post[:, 0])


def test_under_bf16_autocast_the_norms_after_the_precomputed_parts_still_get_float32():
    """The biases are added after the bf16 matmuls, so the pre-activations of dynhid and of the posterior's first
    layer reach their norms in float32, as before they were precomputed (the rounding HEAD's port always had)."""
    rssm = debug_rssm()
    seen: dict[str, set] = {}
    for name in ("dynhid_norm", "post_in"):
        module = getattr(rssm, name).norm if name == "post_in" else getattr(rssm, name)
        module.register_forward_hook(lambda mod, inputs, out, _n=name: seen.setdefault(_n, set()).add(inputs[0].dtype))
    carry = Latent(torch.zeros(2, rssm.deter), torch.zeros(2, rssm.stoch, rssm.classes))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rssm.observe(carry, torch.randn(2, 3, 10), torch.randn(2, 3, 3), torch.zeros(2, 3, dtype=torch.bool))
        rssm.imagine(carry, torch.randn(2, 3, 3), 3)
    assert seen == {"dynhid_norm": {torch.float32}, "post_in": {torch.float32}}
