"""The conv encoder and decoder (issue #14 §2): the faster formulation computes what the plain one did, to float
tolerance, in outputs and gradients, and keeps the parameter names and shapes that old checkpoints hold."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dreamer_core.nets import Decoder, Encoder, RMSNorm, UpConv, channel_norm_silu

SIZE1M_IMAGE = {"image": (64, 64, 3)}  # size1m: depth 4, units 64, 3 layers, kernel 5, deter 512, 32 x 4, 8 blocks

# state_dict keys and shapes of the size1m vision encoder and decoder, recorded from the code before the change
# (commit fdd38e0): checkpoints written then must keep loading.
RECORDED_ENCODER = [
    ("convs.0.weight", (8, 3, 5, 5)), ("convs.0.bias", (8,)), ("convs.1.weight", (12, 8, 5, 5)),
    ("convs.1.bias", (12,)),
    ("convs.2.weight", (16, 12, 5, 5)), ("convs.2.bias", (16,)), ("convs.3.weight", (16, 16, 5, 5)),
    ("convs.3.bias", (16,)), ("norms.0.scale", (8,)), ("norms.1.scale", (12,)), ("norms.2.scale", (16,)),
    ("norms.3.scale", (16,))]
RECORDED_DECODER = [
    ("space.weight", (8, 64, 32)), ("space.bias", (256,)), ("z_in.linear.weight", (128, 128)),
    ("z_in.linear.bias", (128,)), ("z_in.norm.scale", (128,)), ("z_out.weight", (256, 128)), ("z_out.bias", (256,)),
    ("start_norm.scale", (16,)), ("convs.0.weight", (16, 16, 5, 5)), ("convs.0.bias", (16,)),
    ("convs.1.weight", (12, 16, 5, 5)), ("convs.1.bias", (12,)), ("convs.2.weight", (8, 12, 5, 5)),
    ("convs.2.bias", (8,)), ("norms.0.scale", (16,)), ("norms.1.scale", (12,)), ("norms.2.scale", (8,)),
    ("out.weight", (3, 8, 5, 5)), ("out.bias", (3,))]


def size1m_encoder(images=SIZE1M_IMAGE) -> Encoder:
    return Encoder({}, images, depth=4, units=64, layers=3, kernel=5)


def size1m_decoder(images=SIZE1M_IMAGE) -> Decoder:
    return Decoder({}, images, deter=512, stoch_flat=32 * 4, depth=4, units=64, layers=3, kernel=5, blocks=8)


# -- the plain formulation, kept here as the reference (not in the library) ---------------------------------------
def reference_channel_norm(norm, x: torch.Tensor) -> torch.Tensor:
    """RMSNorm over dim 1 of (N, channels, h, w), written out."""
    x = x.float()
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + norm.eps) * norm.scale.view(1, -1, 1, 1)


def reference_encoder(enc: Encoder, img: torch.Tensor) -> torch.Tensor:
    """img (..., h, w, c) uint8 -> tokens (..., 4d * (h/16)^2), NCHW throughout."""
    lead = img.shape[:-3]
    x = img.reshape(-1, *img.shape[-3:]).permute(0, 3, 1, 2).float() / 255.0 - 0.5  # (N, c, h, w)
    for conv, norm in zip(enc.convs, enc.norms):
        x = F.silu(reference_channel_norm(norm, F.max_pool2d(F.conv2d(x, conv.weight, conv.bias, padding=2), 2)))
    return x.reshape(*lead, -1)


def reference_decoder(dec: Decoder, deter: torch.Tensor, stoch_flat: torch.Tensor) -> torch.Tensor:
    """deter (..., D), stoch_flat (..., S*C) -> image (..., h, w, c): upsample the map, then conv it."""
    lead = deter.shape[:-1]
    h, z = deter.reshape(-1, deter.shape[-1]), stoch_flat.reshape(-1, stoch_flat.shape[-1])
    n, r, c, g = h.shape[0], dec.res, dec.start_channels, dec.blocks
    x_h = dec.space(h).reshape(n, g, r, r, c // g).permute(0, 1, 4, 2, 3).reshape(n, c, r, r)
    x_z = dec.z_out(dec.z_in(z)).reshape(n, r, r, c).permute(0, 3, 1, 2)
    x = F.silu(reference_channel_norm(dec.start_norm, x_h + x_z))

    def up_conv(conv, x):
        return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), conv.weight, conv.bias, padding=2)

    for conv, norm in zip(dec.convs, dec.norms):
        x = F.silu(reference_channel_norm(norm, up_conv(conv, x)))
    x = torch.sigmoid(up_conv(dec.out, x))  # (N, c, h, w)
    return x.permute(0, 2, 3, 1).reshape(*lead, *x.shape[2:], x.shape[1])


def grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {k: p.grad.clone() for k, p in module.named_parameters() if p.grad is not None}
    module.zero_grad(set_to_none=True)
    return out


def assert_close_to_float_tolerance(actual: torch.Tensor, expected: torch.Tensor, name: str = "") -> None:
    """Largest difference within 1e-5 of the tensor's largest magnitude: regrouped float32 sums differ by ~1e-6
    of it, so element-wise relative checks fail on the gradients' near-zero entries for no reason."""
    assert actual.shape == expected.shape, name
    error = (actual - expected).abs().max().item()
    assert error <= 1e-5 * expected.abs().max().item() + 1e-7, f"{name}: max difference {error}"


def assert_close_dicts(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert actual.keys() == expected.keys()
    for key in expected:
        assert_close_to_float_tolerance(actual[key], expected[key], key)


# -- tests ----------------------------------------------------------------------------------------------------------
def test_state_dict_keys_and_shapes_equal_the_recorded_ones():
    for module, recorded in ((size1m_encoder(), RECORDED_ENCODER), (size1m_decoder(), RECORDED_DECODER)):
        assert [(k, tuple(v.shape)) for k, v in module.state_dict().items()] == recorded


def test_an_old_state_dict_loads_strictly():
    """A state_dict of exactly the recorded keys and shapes (what an old checkpoint holds) loads with strict=True."""
    for module, recorded in ((size1m_encoder(), RECORDED_ENCODER), (size1m_decoder(), RECORDED_DECODER)):
        old = {k: torch.randn(shape) for k, shape in recorded}
        module.load_state_dict(old, strict=True)
        assert all(torch.equal(module.state_dict()[k], v) for k, v in old.items())


def test_encoder_matches_the_plain_formulation_in_outputs_and_gradients():
    torch.manual_seed(0)
    enc = size1m_encoder()
    for norm in enc.norms:  # scales away from 1, so their gradients and their use in forward are both checked
        norm.scale.data.uniform_(0.5, 1.5)
    img = torch.randint(0, 256, (2, 3, 64, 64, 3), dtype=torch.uint8)  # (B, T, h, w, c)
    upstream = torch.randn(2, 3, 16 * 4 * 4)  # (B, T, E)
    out = enc({"image": img})
    (out * upstream).sum().backward()
    actual = grads(enc)
    ref = reference_encoder(enc, img)
    (ref * upstream).sum().backward()
    assert_close_to_float_tolerance(out, ref.detach(), "tokens")
    assert_close_dicts(actual, grads(enc))


@pytest.mark.parametrize("images", [SIZE1M_IMAGE, {"a": (64, 64, 1), "b": (64, 64, 3)}], ids=["rgb", "two_keys"])
def test_decoder_matches_the_plain_formulation_in_outputs_and_gradients(images):
    torch.manual_seed(0)
    dec = size1m_decoder(images)
    for norm in (dec.start_norm, *dec.norms):
        norm.scale.data.uniform_(0.5, 1.5)
    deter = torch.randn(2, 3, 512, requires_grad=True)  # (B, T, D)
    stoch = torch.randn(2, 3, 128, requires_grad=True)  # (B, T, S*C)
    target = torch.rand(2, 3, 64, 64, sum(s[2] for s in images.values()))  # (B, T, h, w, c)

    def loss(image):
        return (image - target).square().sum()

    out = dec(deter, stoch)
    loss(torch.cat([out[k] for k in sorted(images)], -1)).backward()
    actual = {**grads(dec), "deter": deter.grad.clone(), "stoch": stoch.grad.clone()}
    deter.grad = stoch.grad = None
    ref = reference_decoder(dec, deter, stoch)
    loss(ref).backward()
    assert_close_to_float_tolerance(torch.cat([out[k] for k in sorted(images)], -1), ref.detach(), "image")
    assert_close_dicts(actual, {**grads(dec), "deter": deter.grad, "stoch": stoch.grad})


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_up_conv_equals_upsample_then_conv_for_any_odd_kernel(kernel):
    torch.manual_seed(kernel)
    conv = UpConv(6, 5, kernel).double()
    conv.bias.data.normal_()
    x = torch.randn(2, 6, 7, 7, dtype=torch.float64)  # (N, in, h, w), odd side: the borders are checked too
    expected = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), conv.weight, conv.bias, padding=kernel // 2)
    torch.testing.assert_close(conv(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_channel_norm_silu_equals_silu_of_the_norm(dtype):
    """The norm in float32, SiLU in the input's dtype (HEAD's bf16 rounding), in outputs and gradients."""
    torch.manual_seed(1)
    norm = RMSNorm(6, dim=1)
    norm.scale.data.uniform_(0.5, 1.5)
    x = torch.randn(3, 6, 5, 5).to(dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
    upstream = torch.randn(3, 6, 5, 5).to(dtype)  # (N, channels, h, w)
    out = channel_norm_silu(norm, x)
    (out.float() * upstream.float()).sum().backward()
    actual = {"x": x.grad.clone(), "scale": norm.scale.grad.clone()}
    x.grad = norm.scale.grad = None
    ref = F.silu(reference_channel_norm(norm, x).to(dtype))
    (ref.float() * upstream.float()).sum().backward()
    assert out.dtype == dtype and actual["x"].dtype == dtype
    tolerance = {} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 2e-2}
    torch.testing.assert_close(out, ref.detach(), **tolerance)
    for key, expected in (("x", x.grad), ("scale", norm.scale.grad)):
        if dtype == torch.float32:
            assert_close_to_float_tolerance(actual[key], expected, key)
        else:
            torch.testing.assert_close(actual[key], expected, rtol=2e-2, atol=2e-2, msg=key)
