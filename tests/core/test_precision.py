"""run.precision: bf16 autocast as HEAD computes (bf16 activations; fp32 parameters, optimizer, norms,
distributions and losses), on CPU too, and agreeing with fp32 to bf16's rounding."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from dreamer_core import losses
from dreamer_core.agent import Agent, compute_dtype
from dreamer_core.config import make_config
from dreamer_core.trainer import Trainer
from test_agent import SIX_CONTINUOUS, WALKER, batch

# bf16 keeps 8 significand bits: each matmul input is rounded by up to 2^-9 (0.2%) relative. The errors add up
# over ~10 layers and a 16-step recurrence, and a few sampled latents whose two best perturbed log-probs were
# closer than that flip class. Measured over seeds 0-3 at the debug preset: up to 1.5% on one loss term
# (rec/height, a small one) and 0.07% on the total. The bounds leave ~2x margin; fp32 rounding alone differs by
# ~1e-6, so a bound of 1e-5 would show whether bf16 ran at all (asserted below as well).
LOSS_RTOL = 0.03  # per loss term, relative to max(|fp32 value|, LOSS_FLOOR)
LOSS_FLOOR = 0.1  # the policy loss is ~3e-4: compare it on this absolute scale
TOTAL_RTOL = 0.002


def agent_pair(seed: int, obs=WALKER, image: bool = False):
    """An fp32 and a bf16 agent with the same weights, and one batch (debug preset)."""
    config = make_config("dmc_walker_walk", "proprio", "debug")
    torch.manual_seed(seed)
    fp32 = Agent(replace(config, run=replace(config.run, precision="fp32")), obs, SIX_CONTINUOUS)
    bf16 = Agent(replace(config, run=replace(config.run, precision="bf16")), obs, SIX_CONTINUOUS)
    bf16.load_state_dict_full(copy.deepcopy(fp32.state_dict_full()))
    t = config.train
    return fp32, bf16, batch(fp32, B=t.batch_size, L=t.batch_length + 1, seed=seed, image=image)


def test_precision_is_validated_in_one_line():
    with pytest.raises(ValueError, match=r"^run.precision must be auto, fp32 or bf16, got 'fp16'$"):
        make_config("dummy_cont", "proprio", "debug", {"run": {"precision": "fp16"}})
    assert make_config("dummy_cont", "proprio", "debug").run.precision == "auto"


def test_auto_is_bf16_on_cuda_with_bf16_and_fp32_elsewhere(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compute_dtype("auto", cpu) == torch.float32
    assert compute_dtype("bf16", cpu) == torch.bfloat16  # asked for explicitly, CPU runs it too
    assert compute_dtype("fp32", cuda) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert compute_dtype("auto", cuda) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # pre-Ampere GPUs
    assert compute_dtype("auto", cuda) == torch.float32


@pytest.mark.parametrize("seed", [0, 1])
def test_one_bf16_update_matches_fp32_within_bf16_rounding(seed):
    fp32, bf16, data = agent_pair(seed)
    _, m32 = fp32.train_step(data, torch.Generator().manual_seed(seed))
    _, m16 = bf16.train_step(data, torch.Generator().manual_seed(seed))  # the same latent and action noise
    keys = [k for k in m32 if k.startswith("loss/")]
    assert len(keys) >= 10
    errors = {k: abs(m16[k] - m32[k]) / max(abs(m32[k]), LOSS_FLOOR) for k in keys}
    assert max(errors.values()) < LOSS_RTOL, errors
    assert abs(m16["loss_total"] - m32["loss_total"]) / abs(m32["loss_total"]) < TOTAL_RTOL
    assert max(errors.values()) > 1e-5, "bf16 gave fp32's losses: the autocast did not run"
    assert m16["finite"] == 1.0 and m16["updates"] == 1


def test_bf16_runs_layers_in_bf16_and_norms_distributions_and_losses_in_fp32(monkeypatch):
    fp32, bf16, data = agent_pair(0)
    for agent, layer_dtype in ((fp32, torch.float32), (bf16, torch.bfloat16)):
        seen: dict[str, set] = {}

        def record(name):
            return lambda module, inputs, output: seen.setdefault(name, set()).add(output.dtype)

        handles = [agent.encoder.mlp.layers[0].linear.register_forward_hook(record("linear")),
                   agent.rssm.post_out.register_forward_hook(record("linear")),
                   agent.actor.mlp.layers[0].linear.register_forward_hook(record("linear")),
                   agent.encoder.mlp.layers[0].norm.register_forward_hook(record("norm_out"))]
        recorded: dict[str, set] = {}
        for name in ("kl_losses", "actor_loss", "critic_loss", "lambda_return"):
            original = getattr(losses, name)

            def wrapped(*args, _original=original, _name=name, **kwargs):
                out = _original(*args, **kwargs)
                values = out.values() if isinstance(out, dict) else [out]
                recorded.setdefault(_name, set()).update(v.dtype for v in values)
                return out
            monkeypatch.setattr(losses, name, wrapped)
        def reconstruction(*args, _original=agent.reconstruction_losses):
            out = _original(*args)
            recorded.setdefault("rec", set()).update(v.dtype for v in out.values())
            return out
        monkeypatch.setattr(agent, "reconstruction_losses", reconstruction)
        agent.train_step(data, torch.Generator().manual_seed(0))
        for h in handles:
            h.remove()
        monkeypatch.undo()
        assert seen["linear"] == {layer_dtype}  # matmuls: bf16 activations under bf16
        # RMSNorm computes in fp32 and hands back the dtype it was given, as HEAD's Norm: SiLU then runs in bf16.
        assert seen["norm_out"] == {layer_dtype}
        assert recorded and all(dtypes == {torch.float32} for dtypes in recorded.values()), recorded


def test_parameters_and_optimizer_state_stay_fp32_after_a_bf16_update():
    _, bf16, data = agent_pair(0)
    before = [p.detach().clone() for p in bf16.trained_parameters()]
    for _ in range(2):  # the warm-up's first learning rate is 0
        states, metrics = bf16.train_step(data, torch.Generator().manual_seed(0))
        assert metrics["finite"] == 1.0
    params = bf16.trained_parameters()
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, params))  # the update happened
    state = [v for s in bf16.optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.numel() > 1]
    assert state and all(v.dtype == torch.float32 for v in state)
    assert states.deter.dtype == torch.float32 and states.stoch.dtype == torch.float32  # replay stores fp32


@pytest.mark.parametrize("obs", ["proprio", "vision"])
def test_bf16_trains_through_the_trainer(obs, tmp_path):
    config = make_config("dummy_cont", obs, "debug", {"run": {"precision": "bf16", "threads": 1}})
    trainer = Trainer(config, tmp_path)
    try:
        assert trainer.agent.compute_dtype == torch.bfloat16
        metrics = None
        for _ in range(200):
            info = trainer.step()
            metrics = info.train_metrics or metrics
            if trainer.updates >= 3:
                break
        assert trainer.updates >= 3 and metrics is not None
        assert metrics["finite"] == 1.0 and np.isfinite(metrics["loss_total"])
        assert any(k.startswith("loss/rec/image") for k in metrics) == (obs == "vision")
        stored = trainer.replay.recent(8)
        assert stored["deter"].dtype == np.float32 and np.isfinite(stored["deter"]).all()
        assert all(p.dtype == torch.float32 for p in trainer.agent.parameters())
    finally:
        trainer.close()
