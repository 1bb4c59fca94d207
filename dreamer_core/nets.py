"""Building blocks: RMSNorm, truncated-normal fan-in init, Linear, BlockLinear, MLP, conv encoder and decoder.

Shape comments use the legend in docs/tensor_shapes.md; N is the rows of a flattened (..., ...) input.
Layer order everywhere is Linear/Conv -> RMSNorm -> SiLU, every layer has a zero-initialised bias (HEAD).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from dreamer_core.dists import symlog

_TRUNC_STD_FIX = 1.1368  # restores unit std after truncating a standard normal to [-2, 2]


def trunc_normal_fan_in_(weight: torch.Tensor, fan_in: int, outscale: float = 1.0) -> None:
    """Official `trunc_normal_in` init: N(0,1) truncated to [-2, 2], times 1.1368 / sqrt(fan_in) * outscale."""
    with torch.no_grad():
        if outscale == 0.0:
            weight.zero_()
            return
        nn.init.trunc_normal_(weight, 0.0, 1.0, -2.0, 2.0)
        weight.mul_(_TRUNC_STD_FIX / math.sqrt(fan_in) * outscale)


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * scale over `dim`, computed in float32; learned scale only. The conv stacks'
    channel norms (`dim=1`) are always followed by SiLU and run fused, through `channel_norm_silu`."""

    def __init__(self, width: int, eps: float = 1e-4, dim: int = -1):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(width))
        self.eps, self.dim = eps, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        if self.dim == -1:
            return F.rms_norm(x.float(), (x.shape[-1],), self.scale, self.eps).to(dtype)  # shape of x
        x = x.float()
        x = x * torch.rsqrt(x.square().mean(self.dim, keepdim=True) + self.eps)  # shape of x
        shape = [1] * x.dim()
        shape[self.dim] = -1
        return (x * self.scale.view(shape)).to(dtype)  # shape of x


class _RowNormSiLU(torch.autograd.Function):
    """silu(x * rsqrt(mean(x^2) + eps) * scale) over the last dim of (M, C) rows, with a hand-written backward:
    autograd of the written-out ops makes ~2x the full-size passes (pow, mean, rsqrt, mul, mul, silu and each one's
    backward), which is what a conv stack's norms cost on CPU. The norm runs in float32 and SiLU in x's dtype, as
    `F.silu(RMSNorm(x))` (bf16 rounding unchanged); only `x`, the per-row rsqrt and `scale` are kept for backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            xf = x.float()  # (M, C)
            mean_square = torch.linalg.vector_norm(xf, dim=-1, keepdim=True).square_().div_(x.shape[-1])  # (M, 1)
            rstd = torch.rsqrt(mean_square.add_(eps))  # (M, 1)
            y = (xf * rstd).mul_(scale).to(x.dtype)  # (M, C)
            ctx.save_for_backward(x, scale, rstd)
            return F.silu(y, inplace=True)  # (M, C)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, scale, rstd = ctx.saved_tensors
        with torch.autocast(x.device.type, enabled=False):
            xhat = x.float() * rstd  # (M, C)
            grad_y = torch.ops.aten.silu_backward(grad, (xhat * scale).to(x.dtype)).float()  # (M, C)
            grad_scale = torch.einsum("mc,mc->c", grad_y, xhat)  # (C,)
            grad_xhat = grad_y.mul_(scale)  # (M, C)
            mean_dot = torch.einsum("mc,mc->m", grad_xhat, xhat).div_(x.shape[-1]).unsqueeze(-1)  # (M, 1)
            grad_x = torch.addcmul(grad_xhat, xhat, mean_dot, value=-1.0).mul_(rstd)  # (M, C)
        return grad_x.to(x.dtype), grad_scale.to(scale.dtype), None


def channel_norm_silu(norm: RMSNorm, x: torch.Tensor) -> torch.Tensor:
    """silu(norm(x)) for a channel norm (`dim=1`) of a channels-last (N, channels, h, w) map, fused."""
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # (N*h*w, channels): a view of channels-last storage
    return _RowNormSiLU.apply(rows, norm.scale, norm.eps).view(n, h, w, c).permute(0, 3, 1, 2)  # (N, channels, h, w)


class Linear(nn.Linear):
    def __init__(self, inp: int, out: int, outscale: float = 1.0):
        super().__init__(inp, out, bias=True)
        trunc_normal_fan_in_(self.weight, inp, outscale)
        nn.init.zeros_(self.bias)


class NormLinear(nn.Module):
    """Linear -> RMSNorm -> SiLU."""

    def __init__(self, inp: int, out: int):
        super().__init__()
        self.linear = Linear(inp, out)
        self.norm = RMSNorm(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(self.linear(x)))  # (..., out)


class BlockLinear(nn.Module):
    """Block-diagonal linear: G separate (inp/G -> out/G) maps. Fan-in for init is the full input width."""

    def __init__(self, inp: int, out: int, blocks: int, outscale: float = 1.0):
        super().__init__()
        if inp % blocks or out % blocks:
            raise ValueError(f"BlockLinear widths {inp}->{out} must be divisible by {blocks} blocks")
        self.blocks = blocks
        self.weight = nn.Parameter(torch.empty(blocks, inp // blocks, out // blocks))
        self.bias = nn.Parameter(torch.zeros(out))
        trunc_normal_fan_in_(self.weight, inp, outscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, self.blocks, x.shape[-1] // self.blocks).transpose(0, 1)  # (G, N, inp/G)
        y = torch.bmm(x, self.weight)  # (G, N, out/G)
        y = y.transpose(0, 1).reshape(*lead, -1)  # (..., out)
        return y + self.bias  # (..., out)


class MLP(nn.Module):
    """`layers` x (Linear -> RMSNorm -> SiLU)."""

    def __init__(self, inp: int, layers: int, units: int):
        super().__init__()
        self.layers = nn.Sequential(*[NormLinear(inp if i == 0 else units, units) for i in range(layers)])
        self.out_width = units if layers else inp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (..., U), or x itself with no layers

    def from_first(self, first: torch.Tensor) -> torch.Tensor:
        """The output given the first layer's linear output `first` (..., U) (see `shared_first_layers`); with no
        layers, `first` is the input itself and comes back unchanged."""
        if not self.layers:
            return first
        return self.layers[1:](F.silu(self.layers[0].norm(first)))  # (..., U)


class _SharedInputLinear(torch.autograd.Function):
    """y_i = x W_i^T + b_i for several linears that read one input x (rows, in), as one matmul over the weights
    stacked: one pass over x and a wider matmul, instead of one pass and one narrow matmul per linear. Returns the
    y_i as column slices of one buffer. Backward computes only the gradients autograd asks for, so a linear whose
    weights come in detached costs nothing there. Under autocast the matmul runs in the autocast dtype, as
    F.linear's would, and so does backward (the incoming gradients' dtype)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, *weights_and_biases: torch.Tensor) -> tuple[torch.Tensor, ...]:
        weights, biases = weights_and_biases[0::2], weights_and_biases[1::2]
        y = torch.addmm(torch.cat(biases), x, torch.cat(weights).t())  # (rows, sum of outs)
        ctx.save_for_backward(x, *weights)
        ctx.set_materialize_grads(False)  # an output nothing differentiates gets None, not a zero-filled tensor
        return tuple(y.split([w.shape[0] for w in weights], -1))  # (rows, out_i) each

    @staticmethod
    def backward(ctx, *grads: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        x, *weights = ctx.saved_tensors
        need = ctx.needs_input_grad  # x, then (weight, bias) per linear
        grad_x, grad_params = None, []
        for i, (weight, grad) in enumerate(zip(weights, grads)):
            want_weight, want_bias = need[1 + 2 * i], need[2 + 2 * i]
            if grad is None:
                grad_params += [None, None]
                continue
            grad_params.append((grad.t() @ x.to(grad.dtype)).to(weight.dtype) if want_weight else None)  # (out_i, in)
            grad_params.append(grad.sum(0).to(weight.dtype) if want_bias else None)  # (out_i,)
            if need[0]:
                part = grad @ weight.to(grad.dtype)  # (rows, in)
                grad_x = part if grad_x is None else grad_x + part
        return (None if grad_x is None else grad_x.to(x.dtype), *grad_params)


def shared_first_layers(x: torch.Tensor, mlps: list[MLP], trained: list[bool]) -> list[torch.Tensor]:
    """The first layer's linear output (..., U) of each MLP on the same input x (..., in), all from one matmul:
    `mlp.from_first` of it equals `mlp(x)`. Gradients reach the weights of the MLPs marked `trained` only (the
    others are read as stop-gradient targets, as under `torch.no_grad`); an MLP without layers gets x itself."""
    linears = [(mlp.layers[0].linear, keep) for mlp, keep in zip(mlps, trained) if mlp.layers]
    params = [p if keep else p.detach() for linear, keep in linears for p in (linear.weight, linear.bias)]
    lead = x.shape[:-1]
    outs = iter(_SharedInputLinear.apply(x.reshape(-1, x.shape[-1]), *params) if linears else ())  # (rows, U) each
    return [next(outs).view(*lead, -1) if mlp.layers else x for mlp in mlps]  # (..., U) each


class Conv(nn.Conv2d):
    """Conv k x k, stride 1, 'same' padding, fan-in init over k*k*C_in."""

    def __init__(self, inp: int, out: int, kernel: int, outscale: float = 1.0):
        super().__init__(inp, out, kernel, stride=1, padding=kernel // 2, bias=True)
        trunc_normal_fan_in_(self.weight, kernel * kernel * inp, outscale)
        nn.init.zeros_(self.bias)


class UpConv(Conv):
    """Nearest 2x upsample then `Conv`, computed on the small map: upsampling repeats each pixel 2 x 2, so each of
    the 4 output phases (row and column parity) of the k x k conv reads only a (2*ceil(p/2)+1)^2 neighbourhood of
    the small map, p = k // 2 (3 x 3 at k = 5), with the taps that land on one repeated pixel summed. One conv with
    4x the output channels, then a pixel shuffle: the same sums regrouped, ~2.8x fewer FLOPs at k = 5 and no
    upsampled map stored.
    Parameters are the plain conv's (same names and shapes, so checkpoints load)."""

    def __init__(self, inp: int, out: int, kernel: int, outscale: float = 1.0):
        super().__init__(inp, out, kernel, outscale)
        pad, half = kernel // 2, (kernel // 2 + 1) // 2
        taps = torch.zeros(2, 2 * half + 1, kernel)  # (phase, small-map offset + half, tap)
        for phase in range(2):
            for tap in range(kernel):
                taps[phase, (phase + tap - pad) // 2 + half, tap] = 1.0
        self.register_buffer("phase_taps", taps, persistent=False)  # a constant: not in the state_dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, in, h, w) -> (N, out, 2h, 2w)."""
        taps = self.phase_taps.to(self.weight.dtype)
        small = taps.shape[1]
        # (out, row phase, col phase, in, a, b) -> output channel out*4 + row*2 + col, as pixel_shuffle reads it
        weight = torch.einsum("yak,xbl,oikl->oyxiab", taps, taps, self.weight).reshape(-1, x.shape[1], small, small)
        y = F.conv2d(x, weight, self.bias.repeat_interleave(4), padding=small // 2)  # (N, 4 out, h, w)
        return F.pixel_shuffle(y, 2)  # (N, out, 2h, 2w)


def image_geometry(image_shapes: dict[str, tuple[int, ...]]) -> tuple[int, int]:
    """(size, total channels) of the image observations, which are concatenated along channels: all must share
    one square h x w (a multiple of 16, so 4 halvings leave 3..16 pixels, as HEAD asserts)."""
    sizes = {tuple(s[:2]) for s in image_shapes.values()}
    if len(sizes) != 1 or any(len(s) != 3 for s in image_shapes.values()):
        raise ValueError(f"image observations must be (H, W, C) with one shared H x W, got {image_shapes}")
    (h, w), = sizes
    if h != w or h % 16 or not 3 <= h // 16 <= 16:
        raise ValueError(f"images must be square with a side that is a multiple of 16 in 48..256, got {h}x{w}")
    return h, sum(s[2] for s in image_shapes.values())


class Encoder(nn.Module):
    """Vectors: symlog -> MLP. Images: 4 x [conv k5 -> 2x2 max-pool -> RMSNorm -> SiLU], flattened. Concatenated.
    `image_shapes` {key: (h, w, c)}: the channel count comes from the observation space (1 for grayscale)."""

    def __init__(self, vector_dims: dict[str, int], image_shapes: dict[str, tuple[int, ...]], depth: int,
                 units: int, layers: int, kernel: int):
        super().__init__()
        self.vector_keys = sorted(vector_dims)
        self.image_keys = sorted(image_shapes)
        self.out_width = 0
        if self.vector_keys:
            self.mlp = MLP(sum(vector_dims[k] for k in self.vector_keys), layers, units)
            self.out_width += units
        if self.image_keys:
            size, in_channels = image_geometry(image_shapes)
            channels = [in_channels] + [depth * m for m in (2, 3, 4, 4)]
            self.convs = nn.ModuleList(Conv(channels[i], channels[i + 1], kernel) for i in range(4))
            self.norms = nn.ModuleList(RMSNorm(channels[i + 1], dim=1) for i in range(4))
            self.out_width += channels[-1] * (size // 16) ** 2

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.vector_keys:
            x = torch.cat([obs[k].float() for k in self.vector_keys], -1)  # (..., V)
            parts.append(self.mlp(symlog(x)))  # (..., U)
        if self.image_keys:
            img = torch.cat([obs[k] for k in self.image_keys], -1)  # (..., h, w, c) uint8
            lead = img.shape[:-3]
            x = img.reshape(-1, *img.shape[-3:]).permute(0, 3, 1, 2)  # (N, c, h, w) view of NHWC storage
            x = x.to(torch.float32, copy=True).div_(255.0).sub_(0.5)  # in place on the copy: one buffer, not three
            x = x.contiguous(memory_format=torch.channels_last)  # NHWC storage: faster convs and norms on CPU
            for conv, norm in zip(self.convs, self.norms):  # to (N, 2d, h/2, w/2), then 3d, 4d, 4d at h/4 .. h/16
                x = channel_norm_silu(norm, F.max_pool2d(conv(x), 2))
            parts.append(x.reshape(*lead, -1))  # (..., 4d * (h/16)^2)
        return torch.cat(parts, -1)  # (..., E)


class Decoder(nn.Module):
    """Vectors: feat -> MLP -> per-key linear (symlog space). Images: block-linear(h) + MLP(z) start map at
    (size/16)^2 x 4d, then 3 x [upsample -> conv -> RMSNorm -> SiLU] and upsample -> conv -> sigmoid
    (each upsample -> conv is one `UpConv`)."""

    def __init__(self, vector_dims: dict[str, int], image_shapes: dict[str, tuple[int, ...]], deter: int,
                 stoch_flat: int, depth: int, units: int, layers: int, kernel: int, blocks: int):
        super().__init__()
        self.vector_keys = sorted(vector_dims)
        self.image_keys = sorted(image_shapes)
        self.image_channels = [image_shapes[k][2] for k in self.image_keys]  # split of the output conv's channels
        self.deter = deter
        if self.vector_keys:
            self.mlp = MLP(deter + stoch_flat, layers, units)
            self.heads = nn.ModuleDict({k: Linear(units, vector_dims[k]) for k in self.vector_keys})
        if self.image_keys:
            size, out_channels = image_geometry(image_shapes)
            self.res = size // 16
            self.blocks = blocks
            start = 4 * depth
            self.start_channels = start
            self.space = BlockLinear(deter, self.res * self.res * start, blocks)
            self.z_in = NormLinear(stoch_flat, 2 * units)
            self.z_out = Linear(2 * units, self.res * self.res * start)
            self.start_norm = RMSNorm(start, dim=1)
            channels = [start, 4 * depth, 3 * depth, 2 * depth]
            self.convs = nn.ModuleList(UpConv(channels[i], channels[i + 1], kernel) for i in range(3))
            self.norms = nn.ModuleList(RMSNorm(channels[i + 1], dim=1) for i in range(3))
            self.out = UpConv(channels[-1], out_channels, kernel)

    def forward(self, deter: torch.Tensor, stoch_flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """From deter (..., D) and stoch_flat (..., S*C): symlog-space vectors (..., dims) and images in [0, 1]
        (..., h, w, c), c from each image's space."""
        out: dict[str, torch.Tensor] = {}
        if self.vector_keys:
            x = self.mlp(torch.cat([deter, stoch_flat], -1))  # (..., U)
            out.update({k: head(x) for k, head in self.heads.items()})  # (..., dims) each
        if self.image_keys:
            lead = deter.shape[:-1]
            h = deter.reshape(-1, deter.shape[-1])  # (N, D)
            z = stoch_flat.reshape(-1, stoch_flat.shape[-1])  # (N, S*C)
            n, r, c, g = h.shape[0], self.res, self.start_channels, self.blocks
            # Each block of h fills its own channel slice of the start map.
            x_h = self.space(h).reshape(n, g, r, r, c // g).permute(0, 1, 4, 2, 3).reshape(n, c, r, r)  # (N, 4d, r, r)
            x_z = self.z_out(self.z_in(z)).reshape(n, r, r, c).permute(0, 3, 1, 2)  # (N, 4d, r, r)
            x = (x_h + x_z).contiguous(memory_format=torch.channels_last)  # (N, 4d, r, r)
            x = channel_norm_silu(self.start_norm, x)  # (N, 4d, r, r)
            for conv, norm in zip(self.convs, self.norms):  # to (N, 4d, h/8, w/8), then 3d at h/4, 2d at h/2
                x = channel_norm_silu(norm, conv(x))  # each conv upsamples 2x
            x = torch.sigmoid(self.out(x))  # (N, c, h, w)
            x = x.permute(0, 2, 3, 1).reshape(*lead, *x.shape[2:], x.shape[1])  # (..., h, w, c)
            out.update(zip(self.image_keys, x.split(self.image_channels, -1)))  # (..., h, w, c of the key) each
        return out


class Head(nn.Module):
    """MLP over features followed by an output layer with the official out-scale."""

    def __init__(self, inp: int, layers: int, units: int, out: int, outscale: float):
        super().__init__()
        self.mlp = MLP(inp, layers, units)
        self.out = Linear(self.mlp.out_width, out, outscale)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.out(self.mlp(feat))  # (..., out)

    def from_first(self, first: torch.Tensor) -> torch.Tensor:
        """The output given the first layer's linear output (`MLP.from_first`)."""
        return self.out(self.mlp.from_first(first))  # (..., out)
