"""Tests of model.py / reference semantics / package.py. Run: /usr/bin/python3 training/test_model.py
(or pytest). Small random models, a few seconds on a CPU.

The clip tests answer a tab's exchange points from full-video taps, exactly as
docs/exchange-points.md tells the TypeScript engine to, and check the clip's output equals the
full-video output: the fixtures carry enough to reproduce any partition.
"""
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import package  # noqa: E402
from model import (CLIPTextModel, TemporalScope, TextConfig, UNet3DConditionModel, UNetConfig,  # noqa: E402
                   dual_scope_bias, global_frame_indices)

torch.manual_seed(0)


def randomize(module):
    """Non-trivial weights everywhere (conv4 of every TemporalConvLayer starts at zero)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return module


def test_global_indices_and_bias():
    assert global_frame_indices(40, 8).tolist() == [0, 5, 10, 15, 20, 25, 30, 35]
    assert global_frame_indices(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert global_frame_indices(48, 8).tolist() == [0, 6, 12, 18, 24, 30, 36, 42]
    g = global_frame_indices(10, 3)  # floor(k·10/3) = 0, 3, 6
    assert g.tolist() == [0, 3, 6]
    early, late = dual_scope_bias(10, 2, g, 999, 800, 10.0), dual_scope_bias(10, 2, g, 799, 800, 10.0)
    assert early.shape == (10, 13)
    assert early[0, :3].tolist() == [0, 0, 0] and early[0, 3] == float("-inf") and early[0, 10:].tolist() == [10] * 3
    assert late[5, 3:8].tolist() == [10] * 5 and late[5, 2] == float("-inf") and late[5, 10:].tolist() == [0] * 3


def test_attention_window_is_local():
    """A key frame outside the window and not global does not change a query's output."""
    unet = randomize(UNet3DConditionModel(UNetConfig()))
    block = unet.transformer_in.transformer_blocks[0]
    n = 20
    g = global_frame_indices(n, 4)  # 0, 5, 10, 15
    for t in (999, 500):  # global keys favoured, then local keys favoured
        scope = TemporalScope(g, dual_scope_bias(n, 1, g, t))
        x = torch.randn(3, n, 64)
        y = block(x, scope=scope)
        x2 = x.clone()
        x2[:, 3] += 1.0  # not global, and no global frame has it in its window (p = 1)
        y2 = block(x2, scope=scope)
        # attn1 spreads frame 3 to frames 2..4, attn2 to 1..5; the global frames never see it
        assert torch.equal(y[:, 6:], y2[:, 6:]) and torch.equal(y[:, 0], y2[:, 0])
        assert not torch.allclose(y[:, 3], y2[:, 3]) and (t >= 800 or not torch.equal(y[:, 5], y2[:, 5]))


def _taps(unet, x, t, text, scope):
    taps = {}

    def tap(kind, ep_id, value):
        taps[ep_id] = value

    out = unet(x, t, text, scope=scope, tap=tap)
    return out, taps


def test_temporal_conv_clip_from_exchange_points():
    unet = randomize(UNet3DConditionModel(UNetConfig()))
    layer = unet.down_blocks[0].temp_convs[0]
    n, c, k = 12, unet.config.block_out_channels[0], 4
    x = torch.randn(2, c, n, 8, 8)
    flat = x.permute(0, 2, 1, 3, 4).reshape(2 * n, c, 8, 8)
    taps = {}
    full = layer(flat, n, tap=lambda kind, i, v: taps.__setitem__(i, v))
    full = full.reshape(2, n, c, 8, 8).permute(0, 2, 1, 3, 4)
    for s, e in ((0, 5), (5, 9), (9, 12), (0, 12)):
        lo, hi = max(0, s - k), min(n, e + k)  # the halo: k frames each side that exist
        y = x[:, :, lo:hi]
        for j, seq in enumerate((layer.conv1, layer.conv2, layer.conv3, layer.conv4), 1):
            mean, var = taps[f"{layer.ep_id}.conv{j}.0"]  # full-video statistics [B, groups]
            gn = seq[0]
            yg = y.reshape(2, gn.num_groups, -1, *y.shape[2:])
            yg = (yg - mean.float()[:, :, None, None, None, None]) / torch.sqrt(var.float() + gn.eps)[:, :, None, None, None, None]
            y = yg.reshape(y.shape) * gn.weight[None, :, None, None, None] + gn.bias[None, :, None, None, None]
            y = seq[-1](torch.nn.functional.silu(y))  # Conv3d zero-pads both ends of what it is given
        # frames next to a halo edge that is not a video end saw a zero pad: keep only [s, e)
        y = x[:, :, s:e] + y[:, :, s - lo: s - lo + (e - s)]
        assert torch.allclose(y, full[:, :, s:e], atol=1e-5), (s, e, (y - full[:, :, s:e]).abs().max())


def test_temporal_transformer_clip_from_exchange_points():
    unet = randomize(UNet3DConditionModel(UNetConfig()))
    tt = unet.transformer_in
    n, p, c = 14, 3, unet.config.block_out_channels[0]
    g = global_frame_indices(n, 4)
    for t in (999, 500):
        scope = TemporalScope(g, dual_scope_bias(n, p, g, t, 800, 1.0))
        x = torch.randn(2 * n, c, 8, 8)
        taps = {}
        full = tt(x, n, scope=scope, tap=lambda kind, i, v: taps.__setitem__(i, v))
        blk = tt.transformer_blocks[0]
        for s, e in ((0, 4), (4, 10), (10, 14)):
            xc = x.reshape(2, n, c, 8, 8)[:, s:e]  # the clip's own frames (B, f, C, H, W)
            mean, var = taps[f"{tt.ep_id}.norm"]
            yg = xc.permute(0, 2, 1, 3, 4).reshape(2, tt.norm.num_groups, -1)
            yg = (yg - mean.float()[:, :, None]) / torch.sqrt(var.float()[:, :, None] + tt.norm.eps)
            y = yg.reshape(2, c, e - s, 8, 8) * tt.norm.weight[None, :, None, None, None] + tt.norm.bias[None, :, None, None, None]
            h = tt.proj_in(y.permute(0, 3, 4, 2, 1).reshape(2 * 64, e - s, c))
            lo, hi = max(0, s - p), min(n, e + p)
            for norm, attn, key in ((blk.norm1, blk.attn1, "attn1"), (blk.norm2, blk.attn2, "attn2")):
                full_in = taps[f"{tt.ep_id}.transformer_blocks.0.{key}"]  # (B·H·W, N, D), all frames
                q_in = norm(h)
                assert torch.allclose(q_in, full_in[:, s:e], atol=1e-5)
                kv = torch.cat([full_in[:, lo:hi], full_in[:, g]], dim=1)  # halo'd window | global frames
                bias = torch.cat([scope.bias[s:e, lo:hi], scope.bias[s:e, n:]], dim=1)
                h = h + attn(q_in, context=kv, bias=bias)
            h = h + blk.ff(blk.norm3(h))
            y = tt.proj_out(h).reshape(2, 8, 8, e - s, c).permute(0, 3, 4, 1, 2)
            y = xc + y
            ref = full.reshape(2, n, c, 8, 8)[:, s:e]
            assert torch.allclose(y, ref, atol=1e-5), (t, s, e, (y - ref).abs().max())


def test_per_frame_timesteps():
    """A (B, F) timestep with equal rows gives the one-timestep output; a differing frame changes it."""
    torch.manual_seed(0)
    unet = randomize(UNet3DConditionModel(UNetConfig()))
    x, text = torch.randn(2, 48, 5, 8, 8), torch.randn(2, 4, 64)
    with torch.no_grad():
        one = unet(x, torch.tensor([700.0, 300.0]), text)
        rows = unet(x, torch.tensor([[700.0] * 5, [300.0] * 5]), text)
        anchored = unet(x, torch.tensor([[700.0] * 5, [300.0, 300.0, 10.0, 300.0, 300.0]]), text)
    assert (one - rows).abs().max() < 1e-5
    assert (one[0] - anchored[0]).abs().max() < 1e-5 and (one[1] - anchored[1]).abs().max() > 1e-3


def test_tokenizer():
    ids = data.tokenize(["A red circle, bouncing!", ""])
    assert ids[0, 0] == data.BOS_ID and ids[0, 5] == data.EOS_ID and ids[1].tolist()[:3] == [1, 2, 0]
    try:
        data.tokenize(["a purple circle"])
        raise AssertionError("unknown word accepted")
    except AssertionError as err:
        assert "purple" in str(err)


def test_package_round_trip():
    unet, text = randomize(UNet3DConditionModel(UNetConfig())), CLIPTextModel(TextConfig(vocab_size=len(data.VOCAB)))
    with tempfile.TemporaryDirectory() as d:
        m = package.export(d, unet.state_dict(), text.state_dict(), unet.config, text.config, data.tokenizer_json(), {})
        assert sum(e["bytes"] for e in m["files"].values()) < 20e6
        u2, t2, tok = package.load(d)
        assert tok["vocab"] == data.VOCAB
        for a, b in ((unet, u2), (text, t2)):
            sa, sb = a.state_dict(), b.state_dict()
            assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_committed_goldens_match_committed_weights():
    """The goldens were written from the package in the tree (ship.py keeps them together)."""
    import json
    here = os.path.dirname(os.path.abspath(__file__))
    model_dir = os.path.join(here, "..", "public", "models", "vi-shapes-tiny")
    golden = os.path.join(here, "golden")
    if not os.path.exists(os.path.join(golden, "source.json")):
        return  # nothing shipped yet
    manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
    source = json.load(open(os.path.join(golden, "source.json")))
    assert source["unet_weights_sha256"] == manifest["files"][package.FILES["unet_weights"]]["sha256"]
    _, text, _ = package.load(model_dir)  # also checks every sha256
    g = package.load_safetensors(os.path.join(golden, "text_encoder.safetensors"))
    with torch.no_grad():
        hidden = text(torch.from_numpy(g["input_ids"].copy()))
    assert np.abs(hidden.numpy() - g["last_hidden_state"]).max() < 1e-5


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
            print("ok", name)
