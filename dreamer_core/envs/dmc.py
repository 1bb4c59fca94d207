"""DeepMind Control Suite tasks: `dmc_<domain>_<task>`, proprio or vision (as the official dmc configs)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import BaseEnv, ContinuousActions, Space, flag_spaces, image_space

if TYPE_CHECKING:
    from ..config import EnvConfig

if sys.platform.startswith("linux"):
    # dm_control picks its GL backend at import; headless Linux needs EGL (GLFW wants a display).
    os.environ.setdefault("MUJOCO_GL", "egl")

# Official DreamerV3 short names.
ALIASES = {"cup": "ball_in_cup"}
# Camera 0 of quadruped looks at the floor; the official configs use camera 2.
DEFAULT_CAMERAS = {"quadruped": 2}
# Model fields that tasks randomise per episode (reacher's and swimmer's targets, finger's target site, colours):
# saved with the physics state so a resumed episode has the same target.
MODEL_FIELDS = ("body_pos", "body_quat", "geom_pos", "geom_quat", "geom_size", "geom_rgba", "site_pos",
                "site_size", "site_rgba", "mat_rgba")


def parse_task(name: str) -> tuple[str, str]:
    """Split `domain_task` (without `dmc_`); domains may contain underscores, so match known pairs."""
    from dm_control import suite

    for alias, domain in ALIASES.items():
        if name.startswith(alias + "_"):
            name = domain + name[len(alias) :]
    for domain, task in suite.ALL_TASKS:
        if name == f"{domain}_{task}":
            return domain, task
    domains = sorted({d for d, _ in suite.ALL_TASKS})
    matches = [d for d in domains if name.startswith(d + "_") or name == d]
    if matches:
        domain = max(matches, key=len)
        tasks = [t for d, t in suite.ALL_TASKS if d == domain]
        raise ValueError(
            f"unknown dm_control task 'dmc_{name}': domain {domain!r} has tasks {tasks}, "
            f"e.g. 'dmc_{domain}_{tasks[0]}'"
        )
    raise ValueError(
        f"unknown dm_control task 'dmc_{name}': spell it dmc_<domain>_<task>, e.g. dmc_cartpole_balance, "
        f"dmc_walker_walk, dmc_ball_in_cup_catch; domains: {', '.join(domains)}"
    )


class DMCEnv(BaseEnv):
    def __init__(self, config: EnvConfig, seed: int) -> None:
        from dm_control import suite

        domain, task = parse_task(config.task[len("dmc_") :])
        super().__init__(config.task, config.action_repeat)
        self._env = suite.load(domain, task, task_kwargs={"random": seed})
        physics = self._env.physics
        if not config.shadows:
            physics.model.light_castshadow[:] = 0  # ~3x faster rendering on CPU
        self._vision = config.obs == "vision"
        self._image_key = "image" if self._vision else ("log/image" if config.log_image else None)
        self._camera = None
        if self._image_key:
            camera_id = config.camera if config.camera >= 0 else DEFAULT_CAMERAS.get(domain, 0)
            self._camera = _make_camera(physics, config.size, camera_id)

        spec = self._env.action_spec()
        self.actions = ContinuousActions(spec.minimum, spec.maximum, spec.dtype)
        self.obs_space = flag_spaces()
        if not self._vision:  # official dmc_vision feeds the image only
            for key, value in self._env.observation_spec().items():
                self.obs_space[key] = Space((int(np.prod(value.shape)),), np.float32)
        if self._image_key:
            self.obs_space[self._image_key] = image_space(config.size)
        self._vector_keys = [k for k in self.obs_space if k not in flag_spaces() and k != self._image_key]
        self._timestep: Any = None

    def _reset(self) -> None:
        self._timestep = self._env.reset()

    def _act(self, action: np.ndarray) -> tuple[float, bool, bool]:
        self._timestep = self._env.step(action)
        last = self._timestep.last()
        # dm_control ends episodes with discount 0 on true terminals and discount 1 at the time limit.
        return float(self._timestep.reward or 0.0), last, last and self._timestep.discount == 0

    def _observe(self) -> dict[str, np.ndarray]:
        raw = self._timestep.observation
        obs = {key: np.asarray(raw[key], np.float32).reshape(-1) for key in self._vector_keys}  # each (dims,)
        if self._camera is not None:
            # The camera returns a flipped view of its reused buffer: copy, or stored frames change later.
            obs[self._image_key] = np.ascontiguousarray(self._camera.render())
        return obs

    def _get_state(self) -> dict[str, Any]:
        import mujoco

        physics = self._env.physics
        spec = mujoco.mjtState.mjSTATE_INTEGRATION  # everything mj_step reads, warm start included
        state = np.empty(mujoco.mj_stateSize(physics.model.ptr, spec))
        mujoco.mj_getState(physics.model.ptr, physics.data.ptr, state, spec)
        return {"physics": state, "model": {k: getattr(physics.model, k).copy() for k in MODEL_FIELDS},
                "task_rng": self._env.task.random.get_state(), "step_count": int(self._env._step_count),
                "reset_next": bool(self._env._reset_next_step)}

    def _set_state(self, state: dict[str, Any]) -> None:
        import mujoco

        physics = self._env.physics
        for key, value in state["model"].items():
            getattr(physics.model, key)[:] = value
        mujoco.mj_setState(physics.model.ptr, physics.data.ptr, np.asarray(state["physics"], np.float64),
                           mujoco.mjtState.mjSTATE_INTEGRATION)
        physics.forward()  # the derived quantities (positions, contacts) dm_control's next step starts from
        self._env.task.random.set_state(state["task_rng"])
        self._env._step_count = int(state["step_count"])
        self._env._reset_next_step = bool(state["reset_next"])

    def close(self) -> None:
        super().close()
        self._camera = None
        self._env.close()
        # Free MuJoCo's GL context now, on this thread; left to the garbage collector it may be freed from
        # another thread and print EGL errors.
        self._env.physics.free()


def _make_camera(physics: Any, size: int, camera_id: int) -> Any:
    """A persistent camera: reusing its scene avoids physics.render's per-call setup (~30% of a 64px frame)."""
    from dm_control.mujoco import engine

    ncam = physics.model.ncam
    if camera_id >= ncam:
        raise ValueError(f"camera {camera_id} does not exist: this domain has cameras 0..{ncam - 1}")
    try:
        return engine.Camera(physics, height=size, width=size, camera_id=camera_id)
    except Exception as error:  # noqa: BLE001 - GL backends fail with many types (RuntimeError, ImportError, ...)
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(
            f"MuJoCo cannot render here with MUJOCO_GL={os.environ.get('MUJOCO_GL', '')!r} ({first[:160]}). "
            "Install EGL/Mesa (apt-get install libegl1 libgl1-mesa-dri) or set MUJOCO_GL=osmesa; a proprio run "
            "can also skip the display frame with --set env.log_image=false"
        ) from error
