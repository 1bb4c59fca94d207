"""The agent: official parameter counts, initial losses, one update, gradient routing, NaN skipping."""

import copy

import numpy as np
import pytest
import torch

from dreamer_core.agent import Agent
from dreamer_core.config import make_config
from dreamer_core.envs import Space

FLAGS = {"reward": Space((), np.float32), "is_first": Space((), bool), "is_last": Space((), bool),
         "is_terminal": Space((), bool)}
WALKER = {"orientations": Space((14,), np.float32), "height": Space((1,), np.float32),
          "velocity": Space((9,), np.float32), **FLAGS}
SIX_CONTINUOUS = Space((6,), np.float32, -1.0, 1.0)


@pytest.mark.parametrize("preset, expected", [("size1m", 640_867), ("size12m", 9_738_019),
                                              ("size25m", 21_782_947)])
def test_parameter_counts_equal_the_official_ones(preset, expected):
    agent = Agent(make_config("dmc_walker_walk", "proprio", preset), WALKER, SIX_CONTINUOUS)
    counts = agent.param_counts()
    assert sum(counts.values()) == expected
    # The slow critic is excluded from training and from the count, and mirrors the critic.
    assert not any(p.requires_grad for p in agent.slow_critic.parameters())
    assert sum(p.numel() for p in agent.slow_critic.parameters()) == counts["critic"]


ATARI = {"image": Space((96, 96, 1), np.uint8), **FLAGS}  # HEAD env.atari: size [96, 96], gray, image only
EIGHTEEN_DISCRETE = Space((18,), np.float32, 0.0, 1.0, discrete=True)  # actions: all (ALE's legal set)


def test_size200m_atari_parameter_count_equals_the_official_one():
    """HEAD's default model is size200m (d=64, U=1024, D=8192, hidden=1024, S=32, C=64, G=8, k=5, 255 bins).
    Atari's obs space is image (96, 96, 1) only, so the encoder and decoder have no MLP; 18 one-hot actions.
    lin(i, o) = i*o + o, conv(i, o) = 25*i*o + o, every norm adds its width (RMSNorm scale only).
    enc (cnn0..3 + norms, 1->128->192->256->256): conv(1,128)+128 + conv(128,192)+192 + conv(192,256)+256
        + conv(256,256)+256 = 3,486,464; tokens 6*6*256 = 9216.
    rssm: dynin0 lin(8192,1024)+1024, dynin1 lin(2048,1024)+1024, dynin2 lin(18,1024)+1024;
        dynhid0 block kernel 8*(4096*1024) + 8192 + norm 8192 (each group sees its 1024 deter + the 3072 inputs);
        dyngru block kernel 8*(1024*3072) + 24576; obs0 lin(8192+9216,1024)+1024, obslogit lin(1024,2048);
        prior0 lin(8192,1024)+1024 (prior reads deter only), prior1 lin(1024,1024)+1024,
        priorlogit lin(1024,2048) = 100,739,072.
    dec: sp0 block kernel 8*(1024*1152) + 9216, sp1 lin(2048,2048)+2048, sp2 lin(2048,9216), spnorm 256,
        conv2 conv(256,256)+256, conv1 conv(256,192)+192, conv0 conv(192,128)+128, imgout conv(128,1)
        = 36,014,593.
    heads on feat 8192+2048 = 10240, mlp(L) = lin(10240,1024)+1024 + (L-1)*(lin(1024,1024)+1024):
        rew mlp(1)+lin(1024,255) = 10,749,183; con mlp(1)+lin(1024,1) = 10,488,833;
        pol mlp(3)+lin(1024,18) = 12,607,506; val mlp(3)+lin(1024,255) = 12,850,431 (slowval not trained).
    Total 186,936,082."""
    config = make_config("dummy_disc", "vision", "size200m", {"env": {"size": 96}})
    with torch.device("meta"):  # count without allocating or initialising 187M parameters
        agent = Agent(config, ATARI, EIGHTEEN_DISCRETE, device="meta")
    counts = dict(agent.param_counts())
    assert counts == {"encoder": 3_486_464, "rssm": 100_739_072, "decoder": 36_014_593, "reward": 10_749_183,
                      "cont": 10_488_833, "actor": 12_607_506, "critic": 12_850_431}
    assert sum(counts.values()) == 186_936_082


def test_size1m_breakdown_per_module():
    agent = Agent(make_config("dmc_walker_walk", "proprio", "size1m"), WALKER, SIX_CONTINUOUS)
    assert dict(agent.param_counts()) == {"encoder": 10_112, "rssm": 364_416, "decoder": 51_096,
                                          "reward": 57_663, "cont": 41_153, "actor": 50_316, "critic": 66_111}


def batch(agent, B=3, L=9, seed=0, image=False):
    rng = np.random.default_rng(seed)
    data = {k: rng.normal(size=(B, L, *s.shape)).astype(np.float32) for k, s in agent.obs_space.items()
            if s.dtype == np.float32 and len(s.shape) == 1}
    if image:
        data["image"] = rng.integers(0, 255, (B, L, *agent.obs_space["image"].shape), dtype=np.uint8)
    data["reward"] = rng.random((B, L), dtype=np.float32)
    data["is_first"] = np.zeros((B, L), bool)
    data["is_last"] = np.zeros((B, L), bool)
    data["is_terminal"] = np.zeros((B, L), bool)
    data["action"] = rng.uniform(-1, 1, (B, L, agent.act_space.shape[0])).astype(np.float32)
    m = agent.config.model
    data["deter"] = np.zeros((B, L, m.deter), np.float32)
    data["stoch"] = np.zeros((B, L, m.stoch, m.classes), np.float32)
    return agent.to_tensors(data)


def small_agent(obs=WALKER, act=SIX_CONTINUOUS, **train):
    config = make_config("dmc_walker_walk", "proprio", "debug", {"train": train} if train else None)
    torch.manual_seed(0)
    return Agent(config, obs, act)


def test_initial_losses_match_the_reference():
    agent = small_agent()
    states, metrics = agent.train_step(batch(agent), torch.Generator().manual_seed(0))
    assert metrics["loss/rew"] == pytest.approx(np.log(255), abs=1e-4)  # zero-initialised reward head
    assert metrics["loss/dyn"] >= 1.0 and metrics["loss/rep"] >= 0.1  # free bits floor
    # repval = 0.3 * (NLL(target) + NLL(slow)) = 0.3 * 2 ln 255 with the zero-initialised critic.
    assert metrics["loss/repval"] == pytest.approx(0.3 * 2 * np.log(255), rel=1e-3)
    assert metrics["finite"] == 1.0 and metrics["updates"] == 1
    assert states.deter.shape == (3, 8, agent.config.model.deter)  # T = L - context


def test_update_changes_weights_and_slow_critic_follows_by_ema():
    agent = small_agent()
    data = batch(agent)
    for _ in range(2):  # the critic output is zero-initialised and update 1 runs at lr 0: take two so it moves
        agent.train_step(data)
    slow_before = [p.clone() for p in agent.slow_critic.parameters()]
    agent.train_step(data)
    for slow_old, slow_new, fast in zip(slow_before, agent.slow_critic.parameters(), agent.critic.parameters()):
        assert torch.allclose(slow_new, 0.98 * slow_old + 0.02 * fast, atol=1e-6)


def test_world_model_loss_decreases_on_a_fixed_batch():
    agent = small_agent(lr=1e-3, warmup=1)
    data = batch(agent)
    first = agent.train_step(data)[1]
    for _ in range(40):
        last = agent.train_step(data)[1]
    for key in ("loss/rec/orientations", "loss/rec/velocity", "loss/rew"):
        assert last[key] < 0.8 * first[key], key


def test_imagination_losses_do_not_reach_the_world_model_but_repval_does():
    agent = small_agent()
    data = batch(agent)
    for _ in range(2):  # the critic's output starts at zero (and update 1 runs at lr 0): then its gradient is non-zero
        agent.train_step(data)
    agent.zero_grad()
    start, prev, rest = agent.split_context(data)
    _, states, _, _ = agent.observe(start, prev, rest)
    _, out, _ = agent.actor_critic_losses(states, rest, None, agent.retnorm)
    (out["policy"].mean() + out["value"].mean()).backward(retain_graph=True)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in agent.rssm.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in agent.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.actor.parameters())
    agent.zero_grad()
    out["repval"].mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.encoder.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in agent.actor.parameters())


# Produced by the train step before it became free of host syncs (43c8019^: Python branches, `.tolist()`):
# three updates of small_agent(lr=1e-3, warmup=1) on batch(seed=i), one generator seeded 0. The sync-free step
# must reproduce them to float rounding.
BEFORE_SYNC_FREE = {
    "loss_total": [28.39488410949707, 27.66022300720215, 26.54403305053711],
    "grad_norm": [44.328792572021484, 49.16963195800781, 31.971105575561523],
    "loss/value": [1.6561163663864136, 1.6263502836227417, 1.7038241624832153],
    "loss/rew": [5.541264057159424, 5.541264057159424, 5.5324859619140625],
    "ret_hi": [0.0, 0.0, 4.944507381878798e-06],
}
BEFORE_SYNC_FREE_MOVED = {"encoder": 0.041819475832848396, "rssm": 0.14407809087432813, "decoder": 0.0777243872800177,
                          "reward": 0.1365496343196064, "cont": 0.06662393277628582, "actor": 0.07353384315173643,
                          "critic": 0.13744290022444552, "slow_critic": 0.0038644557100807027}


def test_three_updates_reproduce_the_metrics_and_weights_of_the_step_with_host_syncs():
    from dreamer_core.agent import read_metrics

    agent = small_agent(lr=1e-3, warmup=1)
    init = {k: v.clone() for k, v in agent.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    metrics = [read_metrics(agent.train_step(batch(agent, seed=i), gen)[1]) for i in range(3)]
    for key, values in BEFORE_SYNC_FREE.items():
        assert [m[key] for m in metrics] == pytest.approx(values, rel=1e-5, abs=1e-9), key
    moved = {name: sum(float((v - init[f"{name}.{k}"]).square().sum()) for k, v in module.state_dict().items()) ** 0.5
             for name, module in {**agent.trained_modules(), "slow_critic": agent.slow_critic}.items()}
    assert moved == pytest.approx(BEFORE_SYNC_FREE_MOVED, rel=1e-5)  # how far each module's weights moved


def optimizer_state(agent) -> list[torch.Tensor]:
    return [v.clone() for s in agent.optimizer.state.values() for v in s.values()]


def test_non_finite_loss_skips_the_update_and_counts_it():
    agent = small_agent()
    data = batch(agent)
    data["reward"][0, 3] = float("nan")
    before = [p.clone() for p in agent.trained_parameters()]
    _, metrics = agent.train_step(data)
    assert metrics["finite"] == 0.0 and metrics["skipped_updates"] == 1 and metrics["updates"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, agent.trained_parameters()))
    _, metrics = agent.train_step(batch(agent, seed=1))
    assert metrics["finite"] == 1.0 and metrics["updates"] == 1


@pytest.mark.parametrize("poison", ["loss", "gradient"])
def test_a_skipped_update_leaves_weights_optimizer_slow_critic_and_return_scale_exactly_as_they_were(poison):
    agent = small_agent(lr=1e-3, warmup=1)
    for i in range(2):  # moments, step counts, slow critic and return normaliser all hold something by now
        agent.train_step(batch(agent, seed=i))
    weights = {k: v.clone() for k, v in agent.state_dict().items()}  # slow critic included
    optim, retnorm, lr = optimizer_state(agent), agent.retnorm.state_dict(), agent.optimizer.current_lr()
    data = batch(agent, seed=2)
    if poison == "loss":
        data["reward"][0, 3] = float("nan")
    else:  # a finite loss whose gradient is not: a hook makes one parameter's gradient infinite
        hook = agent.rssm.prior_out.weight.register_hook(lambda grad: torch.full_like(grad, float("inf")))
    _, metrics = agent.train_step(data)
    if poison == "gradient":
        hook.remove()
        assert np.isfinite(float(metrics["loss_total"]))
    assert metrics["finite"] == 0.0 and (agent.updates, agent.skipped_updates) == (2, 1)
    assert all(torch.equal(weights[k], v) for k, v in agent.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(optim, optimizer_state(agent)))
    assert agent.retnorm.state_dict() == retnorm and agent.optimizer.current_lr() == lr
    assert agent.nonfinite == ("the loss loss/rew, loss/repval" if poison == "loss" else
                               "the gradient of rssm.prior_out.weight")
    agent.train_step(batch(agent, seed=3))
    assert (agent.updates, agent.skipped_updates, agent.nonfinite) == (3, 1, "")


def test_an_optimizer_state_with_int_step_counts_still_loads():
    """Checkpoints written before the step count became a device tensor hold it as a Python int."""
    agent, resumed = small_agent(lr=1e-3, warmup=1), small_agent(lr=1e-3, warmup=1)
    agent.train_step(batch(agent))
    state = copy.deepcopy(agent.state_dict_full())  # as from a file: torch's load keeps the tensors it is given
    state["optimizer"]["state"] = {i: {**s, "step": int(s["step"])} for i, s in state["optimizer"]["state"].items()}
    resumed.load_state_dict_full(state)
    assert all(torch.is_tensor(s["step"]) and s["step"].device == resumed.device
               for s in resumed.optimizer.state.values())
    gen_a, gen_b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    _, a = agent.train_step(batch(agent, seed=1), gen_a)
    _, b = resumed.train_step(batch(resumed, seed=1), gen_b)
    assert a["loss_total"] == b["loss_total"] and a["updates"] == b["updates"] == 2
    assert all(torch.equal(x, y) for x, y in zip(agent.trained_parameters(), resumed.trained_parameters()))


def test_replay_context_starts_from_the_stored_latent_and_is_first_resets_it():
    agent = small_agent()
    data = batch(agent)
    other = {k: v.clone() for k, v in data.items()}
    other["deter"][:, 0] = 3.0  # a different stored latent at the context step
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    run = lambda d: agent.observe(*agent.split_context(d), gen())[1].deter  # noqa: E731
    assert not torch.allclose(run(data)[:, 0], run(other)[:, 0])
    data["is_first"][:, 1] = True  # first training step resets: the stored latent no longer matters
    other["is_first"][:, 1] = True
    assert torch.allclose(run(data), run(other))


def test_discrete_actions_and_images():
    obs = {"image": Space((64, 64, 3), np.uint8), **FLAGS}
    agent = small_agent(obs, Space((3,), np.float32, 0.0, 1.0, discrete=True))
    data = batch(agent, image=True)
    data["action"] = torch.nn.functional.one_hot(torch.randint(0, 3, (3, 9)), 3).float()
    _, metrics = agent.train_step(data)
    assert metrics["finite"] == 1.0 and "loss/rec/image" in metrics
    carry = agent.initial_carry(2)
    obs_t = {"image": data["image"][:2, 0], "is_first": torch.ones(2, dtype=torch.bool)}
    carry, action = agent.policy(carry, obs_t, torch.Generator().manual_seed(0))
    assert torch.equal(action.sum(-1), torch.ones(2))


def test_grayscale_images_train_and_are_displayed_as_rgb():
    from dreamer_core.report import make_report

    disc = Space((3,), np.float32, 0.0, 1.0, discrete=True)
    gray = small_agent({"image": Space((64, 64, 1), np.uint8), **FLAGS}, disc)
    rgb = small_agent({"image": Space((64, 64, 3), np.uint8), **FLAGS}, disc)
    # Only the encoder's first conv (k*k*C*2d) and the decoder's output conv (k*k*2d*C + C) see the channels:
    # 2 fewer channels at debug depth d=2, kernel 5 drop 2*25*4 + 2*(25*4 + 1) = 402 parameters.
    assert sum(rgb.param_counts().values()) - sum(gray.param_counts().values()) == 402
    data = batch(gray, image=True)
    data["action"] = torch.nn.functional.one_hot(torch.randint(0, 3, (3, 9)), 3).float()
    states, metrics = gray.train_step(data)
    assert metrics["finite"] == 1.0 and metrics["loss/rec/image"] > 0
    recon = gray.decoder(states.deter, states.stoch.flatten(-2))["image"]
    assert recon.shape == (3, 8, 64, 64, 1)  # (B, T, h, w, 1)
    window = {k: v[:1].cpu().numpy() for k, v in data.items()}  # (1, K + L, ...)
    report = make_report(gray, window, samples=2)
    for frames in (report.real, report.decoded, report.openloop, report.imagination.frames):
        assert frames.shape[-3:] == (64, 64, 3) and frames.dtype == np.uint8
        assert np.array_equal(frames[..., 0], frames[..., 2])  # gray repeated, not a colour image
    assert np.array_equal(report.real[..., 0], window["image"][0, 1:, ..., 0])


def test_images_of_mixed_sizes_are_refused_with_a_clear_error():
    obs = {"a": Space((64, 64, 1), np.uint8), "b": Space((32, 32, 3), np.uint8), **FLAGS}
    with pytest.raises(ValueError, match="one shared H x W"):
        small_agent(obs)


def test_action_scaling_bounds_magnitude_but_passes_gradients():
    from dreamer_core.rssm import scale_action

    a = torch.tensor([0.5, -3.0, 10.0], requires_grad=True)
    scaled = scale_action(a)
    assert torch.allclose(scaled, torch.tensor([0.5, -1.0, 1.0]))
    scaled.sum().backward()
    assert torch.allclose(a.grad, torch.tensor([1.0, 1 / 3.0, 0.1]))


@pytest.mark.parametrize("act", [SIX_CONTINUOUS, Space((3,), np.float32, 0, 1, discrete=True)])
def test_heads_without_hidden_layers_read_the_features_directly_and_train(act):
    """`model.*_layers = 0` is allowed: the actor's and the other heads' output layers then read the features."""
    config = make_config("dmc_walker_walk", "proprio", "debug",
                         {"model": {"actor_layers": 0, "critic_layers": 0, "rew_layers": 0, "con_layers": 0}})
    torch.manual_seed(0)
    agent = Agent(config, WALKER, act)
    assert agent.actor.mean.weight.shape == (act.shape[0], agent.rssm.feat_dim)
    before = [p.clone() for p in agent.actor.parameters()]
    for _ in range(2):  # update 1 runs at lr 0 (warm-up); the entropy bonus moves the actor from the start
        _, metrics = agent.train_step(batch(agent))
    assert metrics["finite"] == 1.0
    assert any(not torch.equal(p, old) for p, old in zip(agent.actor.parameters(), before))
