"""The embedded model: a miniature of diffusers' UNet3DConditionModel (VideoCrafter2 port) and a
tiny CLIP-style text encoder, in one file, classes in dependency order.

Module structure and parameter names are diffusers' / transformers' (docs/model-architecture.md
is the contract), so a state_dict of this model loads into the same compiler as real VC2 weights.
The code is written from that contract, not copied.

Shape legend: B batch (2 for CFG), F frames, C channels, H W latent height/width, T text tokens,
S key sequence length, D inner dim, nh heads, hd head dim.

Cross-frame semantics: the temporal modules see every frame they are given. Given the whole video
(the reference renderer does that), the GroupNorms that span frames use full-video statistics and
the temporal convolutions are exactly the full-video convolution. Temporal attention takes an
optional `TemporalScope` (extra global key frames + additive logit bias) for dual-scope attention;
without one it is plain full attention over the clip, as in training.
An optional `tap(kind, id, tensor)` callback sees every exchange point (docs/exchange-points.md).
"""
import math
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------------
# Configs (diffusers / transformers keys)

@dataclass
class UNetConfig:
    sample_size: int = 8
    in_channels: int = 48  # 3 RGB channels x 4x4 pixel-unshuffle
    out_channels: int = 48
    down_block_types: tuple = ("CrossAttnDownBlock3D", "DownBlock3D")
    up_block_types: tuple = ("UpBlock3D", "CrossAttnUpBlock3D")
    block_out_channels: tuple = (64, 64)  # C0 must exceed in_channels (48): docs/model-architecture.md §1
    layers_per_block: int = 1
    downsample_padding: int = 1
    mid_block_scale_factor: int = 1
    act_fn: str = "silu"
    norm_num_groups: int = 8
    norm_eps: float = 1e-5
    cross_attention_dim: int = 64
    attention_head_dim: int = 8  # diffusers quirk: used as the *head count* argument of the blocks
    num_attention_heads: Optional[int] = None
    fps_conditioning: bool = True  # our extension key: VideoCrafter's fps_proj + fps_embedding

    def to_json(self):
        d = {"_class_name": "UNet3DConditionModel"}
        d.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()})
        return d


@dataclass
class TextConfig:
    vocab_size: int = 23
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    max_position_embeddings: int = 16
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    bos_token_id: int = 1
    eos_token_id: int = 2
    pad_token_id: int = 0

    def to_json(self):
        # only keys that transformers' CLIPTextConfig knows (the TS config parser rejects others)
        return {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", **self.__dict__}


# ----------------------------------------------------------------------------------------------
# Dual-scope attention parameters and exchange-point taps

@dataclass
class TemporalScope:
    """Dual-scope temporal attention over a whole video of N frames (the reference semantics).

    global_idx: int64 [G] frames appended to the keys of every temporal attention.
    bias: float [N, N + G] additive logits for keys [all N frames | G global frames]; -inf outside the
    local window. Built by `dual_scope_bias`.
    """
    global_idx: torch.Tensor
    bias: torch.Tensor


def global_frame_indices(n, top_k):
    g = min(top_k, n)
    return torch.tensor([k * n // g for k in range(g)], dtype=torch.long)  # floor(k·N/G)


def dual_scope_bias(n, p, global_idx, t, t_phase=800, b=10.0):
    """[N, N + G] logit bias: local keys |i-j| <= p (others -inf), +b on global keys if t >= t_phase else on local."""
    i = torch.arange(n)
    local = torch.where((i[:, None] - i[None, :]).abs() <= p, 0.0, float("-inf"))  # (N, N)
    glob = torch.zeros(n, len(global_idx))  # (N, G)
    if t >= t_phase:
        glob += b
    else:
        local = local + b
    return torch.cat([local, glob], dim=1)


# ----------------------------------------------------------------------------------------------
# Embeddings

class Timesteps(nn.Module):
    """Sinusoidal embedding, flip_sin_to_cos=True, downscale_freq_shift=0: [cos(t·f_k), sin(t·f_k)]."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):  # t: (B,) -> (B, dim)
        half = self.dim // 2
        freq = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        arg = t.float()[:, None] * freq[None, :]
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)


class TimestepEmbedding(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.linear_1 = nn.Linear(dim_in, dim_out)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(dim_out, dim_out)

    def forward(self, x):
        return self.linear_2(self.act(self.linear_1(x)))


# ----------------------------------------------------------------------------------------------
# Per-frame spatial modules

class ResnetBlock2D(nn.Module):
    def __init__(self, c_in, c_out, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in, eps=eps)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out, eps=eps)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.nonlinearity = nn.SiLU()
        self.conv_shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x, emb):  # x: (B·F, C_in, H, W), emb: (B·F, temb)
        h = self.conv1(self.nonlinearity(self.norm1(x)))
        h = h + self.time_emb_proj(self.nonlinearity(emb))[:, :, None, None]
        h = self.conv2(self.dropout(self.nonlinearity(self.norm2(h))))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h  # output_scale_factor 1


class Downsample2D(nn.Module):
    def __init__(self, c, padding):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=padding)

    def forward(self, x):
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Attention(nn.Module):
    """Multi-head attention with diffusers' names. Keys/values come from `context` if given, else from x
    concatenated with `extra` (dual-scope global frames); `bias` [Q, S] is added to every head's logits."""

    def __init__(self, query_dim, heads, dim_head, context_dim=None):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dim_head = heads, dim_head
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim), nn.Dropout(0.0)])

    def forward(self, x, context=None, extra=None, bias=None):  # x: (N, Q, D)
        kv = context if context is not None else x
        if extra is not None:
            kv = torch.cat([kv, extra], dim=1)  # (N, S, D) keys = [own tokens | global frames]
        n, q_len, _ = x.shape
        split = lambda t: t.reshape(n, -1, self.heads, self.dim_head).transpose(1, 2)  # (N, nh, L, hd)
        q, k, v = split(self.to_q(x)), split(self.to_k(kv)), split(self.to_v(kv))
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(self.dim_head)  # (N, nh, Q, S)
        if bias is not None:
            logits = logits + bias
        out = logits.softmax(dim=-1) @ v  # (N, nh, Q, hd)
        out = out.transpose(1, 2).reshape(n, q_len, self.heads * self.dim_head)
        return self.to_out[1](self.to_out[0](out))


class GEGLU(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)  # erf gelu


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        for layer in self.net:
            x = layer(x)
        return x


class BasicTransformerBlock(nn.Module):
    """norm1 -> attn1 (self) -> norm2 -> attn2 (text cross-attn, or a second self-attn when context_dim
    is None: diffusers' double_self_attention) -> norm3 -> GEGLU ff; residual after each."""

    def __init__(self, dim, heads, dim_head, context_dim=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, dim_head, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)
        self.ep_id = None  # set for temporal blocks by UNet3DConditionModel

    def forward(self, x, context=None, scope=None, tap=None):  # x: (N, L, D)
        for norm, attn, ctx in ((self.norm1, self.attn1, None), (self.norm2, self.attn2, context)):
            h = norm(x)
            extra = bias = None
            if self.ep_id is not None:  # temporal: L = frames
                if tap is not None:
                    tap("attention", f"{self.ep_id}.{'attn1' if attn is self.attn1 else 'attn2'}", h)
                if scope is not None:
                    extra, bias = h[:, scope.global_idx], scope.bias.to(h.dtype)
            x = x + attn(h, context=ctx, extra=extra, bias=bias)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    """Spatial transformer: per frame, self-attention over H·W and cross-attention to the text."""

    def __init__(self, heads, dim_head, c, groups, context_dim):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, inner, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, heads, dim_head, context_dim)])
        self.proj_out = nn.Conv2d(inner, c, 1)

    def forward(self, x, text):  # x: (B·F, C, H, W), text: (B·F, T, ctx)
        bf, c, h, w = x.shape
        y = self.proj_in(self.norm(x))
        y = y.permute(0, 2, 3, 1).reshape(bf, h * w, -1)  # (B·F, H·W, D)
        for block in self.transformer_blocks:
            y = block(y, context=text)
        y = y.reshape(bf, h, w, -1).permute(0, 3, 1, 2)
        return x + self.proj_out(y)


# ----------------------------------------------------------------------------------------------
# Cross-frame modules (exchange points)

def _tap_stats(tap, ep_id, x, groups):
    """Full-video GroupNorm statistics per (b, group): x (B, C, F, H, W) -> mean, var [B, groups] float64."""
    g = x.double().reshape(x.shape[0], groups, -1)
    tap("stats", ep_id, (g.mean(-1), g.var(-1, unbiased=False)))


class TemporalConvLayer(nn.Module):
    """x + conv4(conv3(conv2(conv1(x)))), each GroupNorm -> SiLU -> [Dropout] -> Conv3d (3,1,1) along frames."""

    def __init__(self, c, groups):
        super().__init__()
        conv = lambda: nn.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0))
        self.conv1 = nn.Sequential(nn.GroupNorm(groups, c), nn.SiLU(), conv())
        self.conv2 = nn.Sequential(nn.GroupNorm(groups, c), nn.SiLU(), nn.Dropout(0.0), conv())
        self.conv3 = nn.Sequential(nn.GroupNorm(groups, c), nn.SiLU(), nn.Dropout(0.0), conv())
        self.conv4 = nn.Sequential(nn.GroupNorm(groups, c), nn.SiLU(), nn.Dropout(0.0), conv())
        nn.init.zeros_(self.conv4[-1].weight)  # starts as identity, as diffusers / VideoCrafter
        nn.init.zeros_(self.conv4[-1].bias)
        self.groups, self.ep_id = groups, None

    def forward(self, x, num_frames, tap=None):  # x: (B·F, C, H, W)
        bf, c, h, w = x.shape
        x = x.reshape(bf // num_frames, num_frames, c, h, w).permute(0, 2, 1, 3, 4)  # (B, C, F, H, W)
        if tap is not None:
            tap("halo", self.ep_id, x)
        y = x
        for k, seq in enumerate((self.conv1, self.conv2, self.conv3, self.conv4), 1):
            if tap is not None:
                _tap_stats(tap, f"{self.ep_id}.conv{k}.0", y, self.groups)
            y = seq(y)
        y = x + y
        return y.permute(0, 2, 1, 3, 4).reshape(bf, c, h, w)


class TransformerTemporalModel(nn.Module):
    """Temporal transformer: GroupNorm over all frames, then attention along frames at every pixel."""

    def __init__(self, heads, dim_head, c, groups):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Linear(c, inner)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, heads, dim_head)])
        self.proj_out = nn.Linear(inner, c)
        self.groups, self.ep_id = groups, None

    def forward(self, x, num_frames, scope=None, tap=None):  # x: (B·F, C, H, W)
        bf, c, h, w = x.shape
        b = bf // num_frames
        y = x.reshape(b, num_frames, c, h, w).permute(0, 2, 1, 3, 4)  # (B, C, F, H, W)
        if tap is not None:
            _tap_stats(tap, f"{self.ep_id}.norm", y, self.groups)
        y = self.norm(y)
        y = y.permute(0, 3, 4, 2, 1).reshape(b * h * w, num_frames, c)  # (B·H·W, F, C)
        y = self.proj_in(y)
        for block in self.transformer_blocks:
            y = block(y, scope=scope, tap=tap)
        y = self.proj_out(y)
        y = y.reshape(b, h, w, num_frames, c).permute(0, 3, 4, 1, 2).reshape(bf, c, h, w)
        return x + y


# ----------------------------------------------------------------------------------------------
# UNet blocks

class CrossAttnDownBlock3D(nn.Module):
    def __init__(self, c_in, c_out, temb, n_layers, heads, cfg, add_downsample):
        super().__init__()
        g, ctx = cfg.norm_num_groups, cfg.cross_attention_dim
        self.resnets = nn.ModuleList([ResnetBlock2D(c_in if i == 0 else c_out, c_out, temb, g, cfg.norm_eps)
                                      for i in range(n_layers)])
        self.temp_convs = nn.ModuleList([TemporalConvLayer(c_out, g) for _ in range(n_layers)])
        self.attentions = nn.ModuleList([Transformer2DModel(c_out // heads, heads, c_out, g, ctx)
                                         for _ in range(n_layers)])
        self.temp_attentions = nn.ModuleList([TransformerTemporalModel(c_out // heads, heads, c_out, g)
                                              for _ in range(n_layers)])
        self.downsamplers = nn.ModuleList([Downsample2D(c_out, cfg.downsample_padding)]) if add_downsample else None

    def forward(self, x, emb, text, num_frames, scope, tap):
        skips = []
        for res, tconv, attn, tattn in zip(self.resnets, self.temp_convs, self.attentions, self.temp_attentions):
            x = tconv(res(x, emb), num_frames, tap)
            x = tattn(attn(x, text), num_frames, scope, tap)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class DownBlock3D(nn.Module):
    def __init__(self, c_in, c_out, temb, n_layers, cfg, add_downsample):
        super().__init__()
        g = cfg.norm_num_groups
        self.resnets = nn.ModuleList([ResnetBlock2D(c_in if i == 0 else c_out, c_out, temb, g, cfg.norm_eps)
                                      for i in range(n_layers)])
        self.temp_convs = nn.ModuleList([TemporalConvLayer(c_out, g) for _ in range(n_layers)])
        self.downsamplers = nn.ModuleList([Downsample2D(c_out, cfg.downsample_padding)]) if add_downsample else None

    def forward(self, x, emb, text, num_frames, scope, tap):
        skips = []
        for res, tconv in zip(self.resnets, self.temp_convs):
            x = tconv(res(x, emb), num_frames, tap)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UNetMidBlock3DCrossAttn(nn.Module):
    def __init__(self, c, temb, heads, cfg, n_layers=1):
        super().__init__()
        g, ctx = cfg.norm_num_groups, cfg.cross_attention_dim
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, temb, g, cfg.norm_eps) for _ in range(n_layers + 1)])
        self.temp_convs = nn.ModuleList([TemporalConvLayer(c, g) for _ in range(n_layers + 1)])
        self.attentions = nn.ModuleList([Transformer2DModel(c // heads, heads, c, g, ctx) for _ in range(n_layers)])
        self.temp_attentions = nn.ModuleList([TransformerTemporalModel(c // heads, heads, c, g)
                                              for _ in range(n_layers)])

    def forward(self, x, emb, text, num_frames, scope, tap):
        x = self.temp_convs[0](self.resnets[0](x, emb), num_frames, tap)
        for i, (attn, tattn) in enumerate(zip(self.attentions, self.temp_attentions)):
            x = tattn(attn(x, text), num_frames, scope, tap)
            x = self.temp_convs[i + 1](self.resnets[i + 1](x, emb), num_frames, tap)
        return x


class UpBlock3D(nn.Module):
    def __init__(self, c_in, c_prev, c_out, temb, n_layers, cfg, add_upsample):
        super().__init__()
        g = cfg.norm_num_groups
        # layer i takes the previous output plus a skip: the last skip has the block's input width
        self.resnets = nn.ModuleList([
            ResnetBlock2D((c_prev if i == 0 else c_out) + (c_in if i == n_layers - 1 else c_out), c_out, temb, g,
                          cfg.norm_eps) for i in range(n_layers)])
        self.temp_convs = nn.ModuleList([TemporalConvLayer(c_out, g) for _ in range(n_layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(c_out)]) if add_upsample else None

    def forward(self, x, skips, emb, text, num_frames, scope, tap):
        for res, tconv in zip(self.resnets, self.temp_convs):
            x = torch.cat([x, skips.pop()], dim=1)
            x = tconv(res(x, emb), num_frames, tap)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class CrossAttnUpBlock3D(nn.Module):
    def __init__(self, c_in, c_prev, c_out, temb, n_layers, heads, cfg, add_upsample):
        super().__init__()
        g, ctx = cfg.norm_num_groups, cfg.cross_attention_dim
        self.resnets = nn.ModuleList([
            ResnetBlock2D((c_prev if i == 0 else c_out) + (c_in if i == n_layers - 1 else c_out), c_out, temb, g,
                          cfg.norm_eps) for i in range(n_layers)])
        self.temp_convs = nn.ModuleList([TemporalConvLayer(c_out, g) for _ in range(n_layers)])
        self.attentions = nn.ModuleList([Transformer2DModel(c_out // heads, heads, c_out, g, ctx)
                                         for _ in range(n_layers)])
        self.temp_attentions = nn.ModuleList([TransformerTemporalModel(c_out // heads, heads, c_out, g)
                                              for _ in range(n_layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(c_out)]) if add_upsample else None

    def forward(self, x, skips, emb, text, num_frames, scope, tap):
        for res, tconv, attn, tattn in zip(self.resnets, self.temp_convs, self.attentions, self.temp_attentions):
            x = torch.cat([x, skips.pop()], dim=1)
            x = tconv(res(x, emb), num_frames, tap)
            x = tattn(attn(x, text), num_frames, scope, tap)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


# ----------------------------------------------------------------------------------------------
# The UNet

class UNet3DConditionModel(nn.Module):
    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.config = cfg
        ch = list(cfg.block_out_channels)
        c0, temb = ch[0], ch[0] * 4
        heads = cfg.num_attention_heads or cfg.attention_head_dim  # diffusers quirk: a head *count*
        self.time_proj = Timesteps(c0)
        self.time_embedding = TimestepEmbedding(c0, temb)
        if cfg.fps_conditioning:
            self.fps_proj = Timesteps(c0)
            self.fps_embedding = TimestepEmbedding(c0, temb)
        self.conv_in = nn.Conv2d(cfg.in_channels, c0, 3, padding=1)
        self.transformer_in = TransformerTemporalModel(8, cfg.attention_head_dim, c0, cfg.norm_num_groups)

        n = cfg.layers_per_block
        self.down_blocks = nn.ModuleList()
        c_out = c0
        for i, kind in enumerate(cfg.down_block_types):
            c_in, c_out, last = c_out, ch[i], i == len(ch) - 1
            if kind == "CrossAttnDownBlock3D":
                self.down_blocks.append(CrossAttnDownBlock3D(c_in, c_out, temb, n, heads, cfg, not last))
            else:
                assert kind == "DownBlock3D", kind
                self.down_blocks.append(DownBlock3D(c_in, c_out, temb, n, cfg, not last))
        self.mid_block = UNetMidBlock3DCrossAttn(ch[-1], temb, heads, cfg)

        self.up_blocks = nn.ModuleList()
        rev = ch[::-1]
        c_out = rev[0]
        for i, kind in enumerate(cfg.up_block_types):
            c_prev, c_out, c_in = c_out, rev[i], rev[min(i + 1, len(ch) - 1)]
            last = i == len(ch) - 1
            if kind == "CrossAttnUpBlock3D":
                self.up_blocks.append(CrossAttnUpBlock3D(c_in, c_prev, c_out, temb, n + 1, heads, cfg, not last))
            else:
                assert kind == "UpBlock3D", kind
                self.up_blocks.append(UpBlock3D(c_in, c_prev, c_out, temb, n + 1, cfg, not last))

        self.conv_norm_out = nn.GroupNorm(cfg.norm_num_groups, c0, eps=cfg.norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(c0, cfg.out_channels, 3, padding=1)

        # exchange-point ids = module paths (docs/exchange-points.md)
        for name, m in self.named_modules():
            if isinstance(m, (TemporalConvLayer, TransformerTemporalModel)):
                m.ep_id = name
            if isinstance(m, TransformerTemporalModel):
                m.transformer_blocks[0].ep_id = f"{name}.transformer_blocks.0"

    def forward(self, sample, timestep, encoder_hidden_states, fps=8, scope: Optional[TemporalScope] = None,
                tap=None):
        """sample (B, 48, F, H, W); timestep scalar, (B,) or (B, F); encoder_hidden_states (B, T, ctx) shared by all
        frames or (B·F, T, ctx) per frame (row b·F + f). Returns noise prediction (B, 48, F, H, W)."""
        b, _, f, h, w = sample.shape
        t = torch.as_tensor(timestep, dtype=torch.float32, device=sample.device)
        per_frame = t.dim() == 2  # (B, F): a noise level per frame (training only: train.py frame_t_frac)
        t = t.reshape(-1) if per_frame else t.reshape(-1).expand(b)
        emb = self.time_embedding(self.time_proj(t))  # (B, temb), or (B·F, temb) per frame
        if self.config.fps_conditioning:
            fps_t = torch.as_tensor(fps, dtype=torch.float32, device=sample.device).reshape(-1).expand(b)
            fps_emb = self.fps_embedding(self.fps_proj(fps_t))  # VC2 port: added after linear_2
            emb = emb + (fps_emb.repeat_interleave(f, dim=0) if per_frame else fps_emb)
        if not per_frame:
            emb = emb.repeat_interleave(f, dim=0)  # (B·F, temb)
        text = encoder_hidden_states
        if text.shape[0] == b:
            text = text.repeat_interleave(f, dim=0)  # (B·F, T, ctx)
        assert text.shape[0] == b * f, f"encoder_hidden_states rows {text.shape[0]} != B·F = {b * f}"

        x = sample.permute(0, 2, 1, 3, 4).reshape(b * f, -1, h, w)  # (B·F, 48, H, W), index b·F + f
        x = self.conv_in(x)
        x = self.transformer_in(x, f, scope, tap)
        skips = [x]
        for block in self.down_blocks:
            x, s = block(x, emb, text, f, scope, tap)
            skips += s
        x = self.mid_block(x, emb, text, f, scope, tap)
        for block in self.up_blocks:
            x = block(x, skips, emb, text, f, scope, tap)
        x = self.conv_out(self.conv_act(self.conv_norm_out(x)))
        return x.reshape(b, f, -1, h, w).permute(0, 2, 1, 3, 4)  # (B, 48, F, H, W)


# ----------------------------------------------------------------------------------------------
# Text encoder (transformers' CLIPTextModel names)

class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, mask):  # x: (P, T, d), mask: (T, T) additive causal mask
        p, t, d = x.shape
        split = lambda y: y.reshape(p, t, self.heads, d // self.heads).transpose(1, 2)  # (P, nh, T, hd)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads) + mask  # (P, nh, T, T)
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(p, t, d)
        return self.out_proj(y)


class CLIPMLP(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, inner), nn.Linear(inner, d)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class CLIPEncoderLayer(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        d = cfg.hidden_size
        self.layer_norm1 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.self_attn = CLIPAttention(d, cfg.num_attention_heads)
        self.layer_norm2 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.mlp = CLIPMLP(d, cfg.intermediate_size)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embedding = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)

    def forward(self, ids):  # ids: (P, T)
        return self.token_embedding(ids) + self.position_embedding.weight[None, : ids.shape[1]]


class CLIPEncoder(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(cfg) for _ in range(cfg.num_hidden_layers)])


class CLIPTextTransformer(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.embeddings = CLIPTextEmbeddings(cfg)
        self.encoder = CLIPEncoder(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, ids):
        t = ids.shape[1]
        mask = torch.full((t, t), float("-inf"), device=ids.device).triu(1)  # causal, as CLIP
        x = self.embeddings(ids)
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)  # (P, T, d) last_hidden_state


class CLIPTextModel(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.config = cfg
        self.text_model = CLIPTextTransformer(cfg)

    def forward(self, ids):
        return self.text_model(ids)


# ----------------------------------------------------------------------------------------------
# Noise schedule (VideoCrafter2 / SD: scaled-linear betas)

def alphas_cumprod(beta_start=0.00085, beta_end=0.012, steps=1000):
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)  # float64 [1000]


if __name__ == "__main__":
    unet, text = UNet3DConditionModel(UNetConfig()), CLIPTextModel(TextConfig())
    count = lambda m: sum(p.numel() for p in m.parameters())
    print(f"unet {count(unet):,} params, text encoder {count(text):,}")
    x = torch.randn(2, 48, 16, 8, 8)
    y = unet(x, torch.tensor([999, 10]), text(torch.zeros(2, 16, dtype=torch.long)))
    print(tuple(y.shape))
