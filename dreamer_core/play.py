"""Play inside the dream: step the world model's prior one action at a time, with a real env beside it.

`DreamPlayer` holds a start latent taken from a real context (`context_from_moment`: a live trainer's latest real
frame, `context_from_env`: a reset plus a few policy steps, or `context_from_report`: a replay moment) and `step(action)` advances the prior by one imagination step
(`RSSM.img_step`) under that action, decodes the prior's frame (or vector) and reads the reward, continue and critic
heads. A real env, when given, takes the same actions from the same start: dm_control (and the dummy envs) restore
the context's exact state (`Env.get_state/set_state`); an env that cannot makes both sides start over from a fresh
reset, and every step's `info` says which. Sampling uses the player's own seeded generator, so the same actions
from the same context give the same dream. `save_recording` writes a session as a labelled mp4 and an `.npz` that
`load_recording` reads back.

Shapes as in docs/tensor_shapes.md; a play session's dreamed steps are imagined steps, so H counts them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dreamer_core import cursor, image_grid, video
from dreamer_core.agent import Agent
from dreamer_core.dists import symexp
from dreamer_core.envs import is_log_key
from dreamer_core.rssm import Latent

RESTORED = "real env restored to the context's exact state"
FRESH = "this env cannot restore a state: dream and real both start from a fresh reset"
NO_REAL = "no real env beside the dream (a replay moment)"
REPLAY_FRESH = ("replay stores no physics state: the dream starts at the replay moment, the real env from a fresh "
                "reset")
REAL_ENDED = "the real episode ended; the dream goes on"
KEEP_STEPS = 4500  # steps a session keeps for its recording (5 min at 15/s, ~110 MB of 64x64 frame pairs)


@dataclass
class PlayContext:
    """A real moment the dream starts from: the posterior latent after observing `obs`, and the env state there."""

    latent: Latent  # (1, D), (1, S, C)
    frame: np.ndarray | None  # (h, w, 3) uint8 real frame at the start (the image input or log/image)
    vector: np.ndarray | None  # (V,) real vector observation at the start (sorted vector keys), raw space
    obs: dict[str, np.ndarray] | None = None  # the real observation at the start (for the real env)
    env_state: dict[str, Any] | None = None  # `Env.get_state()` at the start; None: the env cannot say
    source: str = ""  # where the context came from, for captions
    policy_steps: int = 0  # policy steps from the reset (env contexts)
    replay: bool = False  # a replay moment: a real env beside it cannot go there and starts from a fresh reset


@dataclass
class DreamStep:
    """One step of a play session; step 0 is the context itself (both sides show the real start frame)."""

    t: int
    action: np.ndarray | None  # (A,) the action that led here; None at step 0
    frame: np.ndarray | None  # (h, w, 3) uint8 decoded prior frame (the real start frame at step 0)
    vector: np.ndarray | None  # (V,) decoded vector, raw space
    reward: float  # predicted reward for arriving here (reward head mean)
    cont: float  # predicted continue probability
    value: float  # critic mean
    deter: np.ndarray  # (D,)
    stoch: np.ndarray  # (S, C) one-hot
    real_frame: np.ndarray | None = None  # (h, w, 3) uint8
    real_vector: np.ndarray | None = None  # (V,)
    real_reward: float | None = None
    real_last: bool = False
    error: float | None = None  # mean squared error dream vs real on the 0..255 scale (vector MSE on proprio)
    info: str = ""
    latency: float = 0.0  # s this step took (model and real env)


def _frame_of(obs: dict[str, np.ndarray], agent: Agent) -> np.ndarray | None:
    key = agent.image_keys[0] if agent.image_keys else ("log/image" if "log/image" in obs else None)
    return video.to_rgb(np.asarray(obs[key], np.uint8)) if key else None


def _vector_of(obs: dict[str, np.ndarray], agent: Agent) -> np.ndarray | None:
    keys = sorted(agent.vector_dims)
    return np.concatenate([np.asarray(obs[k], np.float32).reshape(-1) for k in keys]) if keys else None  # (V,)


def _model_obs(agent: Agent, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return agent.to_tensors({k: np.asarray(v)[None] for k, v in obs.items() if not is_log_key(k)})


@torch.no_grad()
def context_from_env(agent: Agent, env, steps: int = 4, seed: int = 0) -> PlayContext:
    """Resets `env`, runs `steps` policy steps, and observes the last frame: its posterior starts the dream.
    The env is left at that moment, and its state is captured so a real twin can start there again."""
    gen = torch.Generator(agent.device).manual_seed(int(seed))
    obs = env.step(None, reset=True)
    carry = agent.initial_carry(1)
    for _ in range(steps):
        carry, action = agent.policy(carry, _model_obs(agent, obs), gen)  # action (1, A)
        obs = env.step(action[0].cpu().numpy(), reset=False)
        if obs["is_last"]:
            break
    carry, _ = agent.policy(carry, _model_obs(agent, obs), gen)  # posterior of the last real frame
    state = env.get_state() if hasattr(env, "get_state") else None
    return PlayContext(carry.latent.clone(), _frame_of(obs, agent), _vector_of(obs, agent),
                       {k: np.array(v) for k, v in obs.items()}, state,
                       f"env reset + {steps} policy steps", steps)


@torch.no_grad()
def live_moment(trainer, index: int = 0) -> dict[str, Any] | None:
    """What a live trainer's env `index` is at now, for `context_from_moment`: its latent and last action (the
    acting carry), the observation it has not acted on yet, and the env's state. Call it on the trainer's thread,
    between two steps. None where the env cannot say its state or its episode has just ended."""
    env = trainer.envs[index]
    if bool(trainer.obs["is_last"][index]) or not hasattr(env, "get_state"):
        return None
    state = env.get_state()
    if state is None:
        return None
    carry = trainer.carry
    return {"deter": carry.latent.deter[index : index + 1].detach().cpu().clone(),  # (1, D)
            "stoch": carry.latent.stoch[index : index + 1].detach().cpu().clone(),  # (1, S, C)
            "action": carry.action[index : index + 1].detach().cpu().clone(),  # (1, A)
            "obs": {k: np.array(v[index]) for k, v in trainer.obs.items()}, "env_state": state,
            "agent_steps": int(trainer.counters.agent_steps)}


@torch.no_grad()
def context_from_moment(agent: Agent, env, moment: dict[str, Any], seed: int = 0) -> PlayContext:
    """The context at a live trainer's moment (`live_moment`): `env` (the same task) takes the trainer env's state,
    and the posterior of the observation there, after the trainer's own carry, starts the dream."""
    from dreamer_core.agent import ActCarry

    env.set_state(moment["env_state"])
    gen = torch.Generator(agent.device).manual_seed(int(seed))
    carry = ActCarry(Latent(moment["deter"].to(agent.device), moment["stoch"].to(agent.device)),
                     moment["action"].to(agent.device))
    carry, _ = agent.policy(carry, _model_obs(agent, moment["obs"]), gen)
    obs = moment["obs"]
    return PlayContext(carry.latent.clone(), _frame_of(obs, agent), _vector_of(obs, agent),
                       {k: np.array(v) for k, v in obs.items()}, moment["env_state"],
                       f"the trainer's latest real frame (agent step {moment['agent_steps']:,})")


def context_from_report(report, t: int | None = None) -> PlayContext:
    """A replay moment: the posterior at report step `t` (None: the last context step, where the report's
    imagination starts) and that real frame, on the CPU. Replay keeps frames, not physics states, so a real env
    beside it starts from a fresh reset (`REPLAY_FRESH`)."""
    t = report.context_len - 1 if t is None else max(0, min(int(t), len(report.rewards) - 1))
    frame = report.real[t] if report.real is not None else None  # (h, w, 3)
    vector = report.real_vectors[t] if report.real_vectors is not None else None  # (V,)
    return PlayContext(cursor.posterior_at(report, t), frame, vector, None, None,
                       f"replay moment (report at {report.updates:,} updates, step {t + 1})", replay=True)


class DreamPlayer:
    """Steps the prior under given actions from a real context, with an optional real env beside it.

    `real_env` should be the env the context came from (or one that can take its state): with a state the real
    side restores it on every reset; without one, `reset()` starts both sides again from a fresh env reset
    (`context_from_env` with the same number of policy steps). The agent must not be trained meanwhile (the
    Studio gives the player a CPU copy of the weights)."""

    def __init__(self, agent: Agent, context: PlayContext, real_env=None, seed: int = 0,
                 temperature: float = 1.0) -> None:
        self.agent, self.context, self.real_env = agent, context, real_env
        self.seed, self.temperature = int(seed), float(temperature)
        self.act_dim = int(agent.act_space.shape[0])
        self.discrete = bool(agent.act_space.discrete)
        self.gen = torch.Generator(agent.device)
        self.steps: list[DreamStep] = []
        self._state: Latent = context.latent
        self._real_running = False
        self._resets = 0

    @property
    def restorable(self) -> bool:
        return self.real_env is not None and self.context.env_state is not None

    def source_info(self) -> str:
        """What the real side is: restored, fresh reset, or none."""
        if self.real_env is None:
            return NO_REAL
        if self.restorable:
            return RESTORED
        return REPLAY_FRESH if self.context.replay else FRESH

    @torch.no_grad()
    def reset(self) -> DreamStep:
        """Back to the real context: same latent, same seed, the real env at the same start. Returns step 0."""
        began = time.perf_counter()
        self._resets += 1
        c = self.context
        real_frame, real_vector = c.frame, c.vector
        if self.real_env is not None:
            if self.restorable:
                self.real_env.set_state(self.context.env_state)
            elif c.replay:  # the dream keeps the replay moment; the real env can only start over
                obs = self.real_env.step(None, reset=True)
                real_frame, real_vector = _frame_of(obs, self.agent), _vector_of(obs, self.agent)
            elif self._resets > 1:  # the env cannot go back: both sides start over from a new reset
                self.context = c = context_from_env(self.agent, self.real_env, c.policy_steps, self.seed)
                real_frame, real_vector = c.frame, c.vector
            self._real_running = True
        self.gen.manual_seed(self.seed)
        device = self.agent.device
        self._state = Latent(c.latent.deter.to(device, copy=True), c.latent.stoch.to(device, copy=True))
        feat = self._state.feat()  # (1, F)
        reward, cont, value = self._heads(feat)
        frame = c.frame if self.agent.image_keys else None  # a proprio model decodes no frames: none at step 0
        step = DreamStep(0, None, frame, c.vector, reward, cont, value,
                         self._state.deter[0].cpu().numpy(), self._state.stoch[0].cpu().numpy(),
                         real_frame=real_frame if self.real_env is not None else None,
                         real_vector=real_vector if self.real_env is not None else None,
                         info=self.source_info())
        step.error = _error(step)
        step.latency = time.perf_counter() - began
        self.steps = [step]
        return step

    @torch.no_grad()
    def step(self, action: np.ndarray) -> DreamStep:
        """One imagination step under `action` (A,) (a one-hot for discrete actions, [-1, 1] for continuous), and
        the same action in the real env."""
        if not self.steps:
            self.reset()
        began = time.perf_counter()
        action = self.check_action(action)
        act = torch.as_tensor(action, device=self.agent.device)[None]  # (1, A)
        self._state, _ = self.agent.rssm.img_step(self._state, act, self.gen, self.temperature)
        feat = self._state.feat()  # (1, F)
        reward, cont, value = self._heads(feat)
        out = self.agent.decoder(self._state.deter, self._state.stoch.flatten(-2))  # {key: (1, h, w, c) or (1, dims)}
        frame = vector = None
        if self.agent.image_keys:
            img = out[self.agent.image_keys[0]][0]  # (h, w, c) in [0, 1]
            frame = video.to_rgb((img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy())  # (h, w, 3)
        if self.agent.vector_dims:
            vector = torch.cat([symexp(out[k][0]) for k in sorted(self.agent.vector_dims)], -1).cpu().numpy()  # (V,)
        step = DreamStep(self.steps[-1].t + 1, action, frame, vector, reward, cont, value,
                         self._state.deter[0].cpu().numpy(), self._state.stoch[0].cpu().numpy(),
                         info=self.source_info())
        self._real_step(step, action)
        step.error = _error(step)
        step.latency = time.perf_counter() - began
        self.steps.append(step)
        if len(self.steps) > KEEP_STEPS:
            del self.steps[1]  # the oldest after step 0: a long session records its start and its last minutes
        return step

    def check_action(self, action) -> np.ndarray:
        action = np.asarray(action, np.float32).reshape(-1)
        if action.shape != (self.act_dim,):
            raise ValueError(f"a play action has {self.act_dim} entries, got shape {action.shape}")
        return action if self.discrete else np.clip(action, -1.0, 1.0)

    def _heads(self, feat: torch.Tensor) -> tuple[float, float, float]:
        a = self.agent
        reward = a.head_dist(a.reward, feat).mean()[0]  # ()
        cont = torch.sigmoid(a.cont(feat)[0, 0])  # ()
        value = a.head_dist(a.critic, feat).mean()[0]  # ()
        return float(reward), float(cont), float(value)

    def _real_step(self, step: DreamStep, action: np.ndarray) -> None:
        if self.real_env is None:
            return
        last = self.steps[-1]
        if not self._real_running:  # the real episode is over: keep showing its last frame
            step.real_frame, step.real_vector, step.real_last = last.real_frame, last.real_vector, True
            step.info = REAL_ENDED
            return
        obs = self.real_env.step(action, reset=False)
        step.real_frame, step.real_vector = _frame_of(obs, self.agent), _vector_of(obs, self.agent)
        step.real_reward = float(obs["reward"])
        step.real_last = bool(obs["is_last"])
        self._real_running = not step.real_last
        if step.real_last:
            step.info = REAL_ENDED


def _error(step: DreamStep) -> float | None:
    """Dream vs real: pixel MSE on the uint8 scale for frames the model decodes, else vector MSE."""
    if step.frame is not None and step.real_frame is not None:
        return float(np.mean((step.frame.astype(np.float32) - step.real_frame.astype(np.float32)) ** 2))
    if step.vector is not None and step.real_vector is not None:
        return float(np.mean((step.vector - step.real_vector) ** 2))
    return None


# ---------------------------------------------------------------------- recordings


@dataclass
class Recording:
    """A play session read back: H+1 steps (step 0 is the context), H actions."""

    t: np.ndarray  # (H+1,) step indices
    actions: np.ndarray  # (H, A)
    rewards: np.ndarray  # (H+1,) predicted rewards (step 0: at the context)
    real_rewards: np.ndarray  # (H,) NaN where the real episode had ended or no real env ran
    conts: np.ndarray  # (H+1,)
    values: np.ndarray  # (H+1,)
    errors: np.ndarray  # (H+1,) NaN where there is nothing to compare
    deter: np.ndarray  # (H+1, D)
    stoch: np.ndarray  # (H+1, S, C)
    dream_frames: np.ndarray | None  # (H+1, h, w, 3) uint8
    real_frames: np.ndarray | None  # (H+1, h, w, 3) uint8
    dream_vectors: np.ndarray | None  # (H+1, V)
    real_vectors: np.ndarray | None  # (H+1, V)
    meta: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.deter)


def _stack(values: list, dtype=None) -> np.ndarray | None:
    if not values or any(v is None for v in values):
        return None
    return np.stack(values).astype(dtype) if dtype else np.stack(values)


def caption(step: DreamStep) -> str:
    act = "context" if step.action is None else "a=" + ",".join(f"{x:+.2f}" for x in step.action)
    real = "" if step.real_reward is None else f" | real r {step.real_reward:+.2f}"
    return f"step {step.t} | {act} | r {step.reward:+.2f} | c {step.cont:.2f} | v {step.value:+.1f}{real}"


def save_recording(steps: list[DreamStep], stem: str | Path, meta: dict[str, str] | None = None,
                   fps: int = 15, scale: int = 3) -> list[Path]:
    """Writes stem.npz (always) and stem.mp4 (when there are frames): dream | real side by side, each frame
    labelled with its step, action, predicted reward, continue and value, and the halves named dream / real."""
    if not steps:
        raise ValueError("nothing to record: the play session has no steps")
    stem = Path(stem)
    if stem.suffix.lower() in (".mp4", ".npz"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    nan = float("nan")
    arrays = dict(
        actions=np.stack([s.action for s in steps[1:]]).astype(np.float32) if len(steps) > 1
        else np.zeros((0, 0), np.float32),
        rewards=np.array([s.reward for s in steps], np.float32),
        real_rewards=np.array([nan if s.real_reward is None else s.real_reward for s in steps[1:]], np.float32),
        conts=np.array([s.cont for s in steps], np.float32), values=np.array([s.value for s in steps], np.float32),
        errors=np.array([nan if s.error is None else s.error for s in steps], np.float32),
        deter=np.stack([s.deter for s in steps]).astype(np.float32),
        stoch=np.stack([s.stoch for s in steps]).astype(np.uint8),  # one-hot: exact as uint8
        t=np.array([s.t for s in steps], np.int64),  # 0, 1, 2, ... (with a gap after 0 in an over-long session)
        meta=np.array(json_meta(meta, steps)),
    )
    for name, values in (("dream_frames", [s.frame for s in steps]), ("real_frames", [s.real_frame for s in steps]),
                         ("dream_vectors", [s.vector for s in steps]),
                         ("real_vectors", [s.real_vector for s in steps])):
        stacked = _stack(values)
        if stacked is not None:
            arrays[name] = stacked
    out = [stem.with_name(stem.name + ".npz")]
    np.savez_compressed(out[0], **arrays)
    frames = arrays.get("dream_frames")
    if frames is not None:
        out.append(stem.with_name(stem.name + ".mp4"))
        video.write_video(out[1], _side_by_side(steps, scale), fps=fps, labels=[caption(s) for s in steps])
    return out


def json_meta(meta: dict[str, str] | None, steps: list[DreamStep]) -> str:
    import json

    return json.dumps({**(meta or {}), "info": steps[0].info})


def _side_by_side(steps: list[DreamStep], scale: int) -> np.ndarray:
    """(steps, h', w', 3): a strip for the step's caption above dream | real, each half named and bordered as the
    imagination grid's tiles (image_grid: red imagined, grey truth; blank where there is no real frame)."""
    frames = []
    for s in steps:
        dream = video.upscale(s.frame, scale)  # (h·scale, w·scale, 3)
        real = video.upscale(s.real_frame, scale) if s.real_frame is not None else None
        if real is None or real.shape != dream.shape:  # a proprio task's log/image is not what the model decodes
            real = image_grid.blank(*dream.shape[:2])
        halves = [image_grid.framed(video.burn_label(dream, "dream"), video.IMAGINED, image_grid.BORDER * scale),
                  image_grid.framed(video.burn_label(real, "real"), image_grid.TRUTH, image_grid.BORDER * scale)]
        row = image_grid.hstack(halves, gap=4 * scale)
        strip = image_grid.blank(image_grid.CAPTION_STRIP, row.shape[1], image_grid.BACKGROUND)
        frames.append(np.concatenate([strip, row], 0))
    return video.pad_to_macro(np.stack(frames), image_grid.BACKGROUND)


def load_recording(path: str | Path) -> Recording:
    """Reads a play session's `.npz` (as `save_recording` writes it)."""
    import json

    with np.load(Path(path), allow_pickle=False) as data:
        get = lambda k: data[k] if k in data.files else None  # noqa: E731
        return Recording(t=data["t"], actions=data["actions"], rewards=data["rewards"], real_rewards=data["real_rewards"],
                         conts=data["conts"], values=data["values"], errors=data["errors"], deter=data["deter"],
                         stoch=data["stoch"], dream_frames=get("dream_frames"), real_frames=get("real_frames"),
                         dream_vectors=get("dream_vectors"), real_vectors=get("real_vectors"),
                         meta=json.loads(str(data["meta"])))


# ---------------------------------------------------------------------- weights for a player


def weights_snapshot(agent: Agent) -> dict[str, torch.Tensor]:
    """A CPU copy of the agent's weights (call it on the thread that trains the agent, between updates)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in agent.state_dict().items()}


def player_agent(config, obs_space, act_space, weights: dict[str, torch.Tensor] | None = None) -> Agent:
    """A CPU agent for a player, separate from the trained one, with `weights` loaded (eval mode)."""
    agent = Agent(config, obs_space, act_space, "cpu")
    if weights is not None:
        agent.load_state_dict(weights)
    return agent.eval().requires_grad_(False)
