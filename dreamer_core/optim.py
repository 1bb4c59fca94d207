"""LaProp with per-tensor adaptive gradient clipping and linear warm-up (the official optimizer chain).

Order per update: AGC on each raw gradient tensor -> RMS normalisation (bias-corrected second moment) ->
momentum of the normalised update (bias-corrected) -> learning rate with linear warm-up. No weight decay.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn as nn


def agc_(params: list[torch.Tensor], clip: float, floor: float) -> None:
    """g <- g / max(1, ||g|| / (clip * max(floor, ||w||))), per tensor (Frobenius norms), in place."""
    grads = [p.grad for p in params]  # P tensors, each of its parameter's shape
    gnorms = torch.stack([torch.linalg.vector_norm(g) for g in grads])  # (P,)
    pnorms = torch.stack([torch.linalg.vector_norm(p.detach()) for p in params])  # (P,)
    factors = 1.0 / torch.clamp(gnorms / (clip * pnorms.clamp_min(floor)), min=1.0)  # (P,)
    torch._foreach_mul_(grads, list(factors.unbind(0)))


class LaProp(torch.optim.Optimizer):
    """The update runs on the device without reading anything back: the step count is a 0-d tensor in each
    parameter's state (as torch's capturable Adam), and a void update (`step(finite=...)` False) is chosen away
    by arithmetic, not by a Python branch."""

    def __init__(self, params, lr: float = 4e-5, eps: float = 1e-20, beta1: float = 0.9, beta2: float = 0.999,
                 agc: float = 0.3, agc_floor: float = 1e-3, warmup: int = 1000):
        defaults = dict(lr=lr, eps=eps, beta1=beta1, beta2=beta2, agc=agc, agc_floor=agc_floor, warmup=warmup)
        super().__init__(params, defaults)

    def current_lr(self) -> torch.Tensor:
        """Learning rate of the most recent update (warm-up included), a 0-d tensor."""
        group = self.param_groups[0]
        state = self.state.get(group["params"][0])
        step = state["step"] if state else torch.zeros((), device=group["params"][0].device)  # ()
        return _warmup_lr(group, step.clamp(min=1))

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        for p, state in self.state.items():  # checkpoints before the tensor count hold an int: both load
            if "step" in state:
                state["step"] = torch.as_tensor(state["step"], dtype=torch.float32, device=p.device)

    @torch.no_grad()
    def step(self, closure=None, finite: torch.Tensor | None = None):  # noqa: ARG002 - torch API
        """One update. Where the 0-d bool `finite` is False the update is void: parameters, moments and step
        counts keep their exact values (the skip of a non-finite update, decided on the device)."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            # Lists of P tensors, each of its parameter's shape: the updates are elementwise.
            grads = [p.grad for p in params]
            if finite is not None:  # a void update's gradients become 0, so every moment below stays finite
                void = ~finite  # ()
                for g in grads:
                    g.masked_fill_(void, 0.0)
            if group["agc"]:
                agc_(params, group["agc"], group["agc_floor"])
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), device=p.device)  # (), float32 as torch's capturable Adam
                    state["nu"] = torch.zeros_like(p)
                    state["mom"] = torch.zeros_like(p)
            steps = [self.state[p]["step"] for p in params]  # P counts, all equal
            torch._foreach_add_(steps, 1.0 if finite is None else [finite.float()] * len(steps))  # list: no .item()
            step = steps[0].clamp(min=1)  # (), 1-based (a void first update leaves 0: any finite value will do)
            b1, b2 = group["beta1"], group["beta2"]
            decay1, decay2 = b1, b2  # the moments' decay: 1 in a void update, which keeps them as they are
            if finite is not None:
                decay1, decay2 = torch.where(finite, b1, 1.0), torch.where(finite, b2, 1.0)  # () each
            nus = [self.state[p]["nu"] for p in params]
            moms = [self.state[p]["mom"] for p in params]
            torch._foreach_mul_(nus, decay2)
            torch._foreach_addcmul_(nus, grads, grads, value=1 - b2)
            denom = torch._foreach_div(nus, _debias(b2, step))
            torch._foreach_sqrt_(denom)
            torch._foreach_add_(denom, group["eps"])
            updates = torch._foreach_div(grads, denom)
            torch._foreach_mul_(moms, decay1)
            torch._foreach_add_(moms, updates, alpha=1 - b1)
            rate = -_warmup_lr(group, step) / _debias(b1, step)  # ()
            if finite is not None:
                rate = torch.where(finite, rate, 0.0)
            torch._foreach_add_(params, torch._foreach_mul(moms, rate))
        return None


def param_breakdown(modules: dict[str, nn.Module]) -> "OrderedDict[str, int]":
    """Trainable parameter count per module (as the official optimizer prints at start-up)."""
    out: OrderedDict[str, int] = OrderedDict()
    for name, module in modules.items():
        out[name] = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return out


def _warmup_lr(group: dict, step: torch.Tensor) -> torch.Tensor:
    """Learning rate of update number `step` (a 1-based 0-d tensor): a linear ramp from 0 over `warmup` updates,
    then constant. As in the official optax chain, the schedule is read at the count before the update, so update
    1 uses lr 0."""
    if not group["warmup"]:
        return torch.full_like(step, group["lr"])  # ()
    return group["lr"] * torch.clamp((step - 1) / group["warmup"], max=1.0)  # ()


def _debias(beta: float, step: torch.Tensor) -> torch.Tensor:
    """The bias correction 1 - beta**step, (), as -expm1(step log beta): float32 keeps its precision near 0."""
    return -torch.expm1(step * math.log(beta)) if beta > 0 else torch.ones_like(step)  # ()
