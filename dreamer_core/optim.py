"""LaProp with per-tensor adaptive gradient clipping and linear warm-up (the official optimizer chain).

Order per update: AGC on each raw gradient tensor -> RMS normalisation (bias-corrected second moment) ->
momentum of the normalised update (bias-corrected) -> learning rate with linear warm-up. No weight decay.
"""

from __future__ import annotations

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
    def __init__(self, params, lr: float = 4e-5, eps: float = 1e-20, beta1: float = 0.9, beta2: float = 0.999,
                 agc: float = 0.3, agc_floor: float = 1e-3, warmup: int = 1000):
        defaults = dict(lr=lr, eps=eps, beta1=beta1, beta2=beta2, agc=agc, agc_floor=agc_floor, warmup=warmup)
        super().__init__(params, defaults)

    def current_lr(self) -> float:
        """Learning rate of the most recent update (warm-up included)."""
        group = self.param_groups[0]
        first = group["params"][0]
        step = max(1, int(self.state[first]["step"])) if self.state.get(first) else 1
        return _warmup_lr(group, step)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ARG002 - torch API
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if group["agc"]:
                agc_(params, group["agc"], group["agc_floor"])
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["nu"] = torch.zeros_like(p)
                    state["mom"] = torch.zeros_like(p)
            step = self.state[params[0]]["step"] + 1
            lr = _warmup_lr(group, step)
            b1, b2 = group["beta1"], group["beta2"]
            # Lists of P tensors, each of its parameter's shape: the updates are elementwise.
            grads = [p.grad for p in params]
            nus = [self.state[p]["nu"] for p in params]
            moms = [self.state[p]["mom"] for p in params]
            torch._foreach_mul_(nus, b2)
            torch._foreach_addcmul_(nus, grads, grads, value=1 - b2)
            denom = torch._foreach_div(nus, 1 - b2**step)
            torch._foreach_sqrt_(denom)
            torch._foreach_add_(denom, group["eps"])
            updates = torch._foreach_div(grads, denom)
            torch._foreach_mul_(moms, b1)
            torch._foreach_add_(moms, updates, alpha=1 - b1)
            torch._foreach_add_(params, moms, alpha=-lr / (1 - b1**step))
            for p in params:
                self.state[p]["step"] = step
        return None


def param_breakdown(modules: dict[str, nn.Module]) -> "OrderedDict[str, int]":
    """Trainable parameter count per module (as the official optimizer prints at start-up)."""
    out: OrderedDict[str, int] = OrderedDict()
    for name, module in modules.items():
        out[name] = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return out


def _warmup_lr(group: dict, step: int) -> float:
    """Learning rate of update number `step` (1-based): a linear ramp from 0 over `warmup` updates, then constant.
    As in the official optax chain, the schedule is read at the count before the update, so update 1 uses lr 0."""
    if not group["warmup"]:
        return group["lr"]
    return group["lr"] * min(1.0, (step - 1) / group["warmup"])
