"""Synthetic domain: coloured shapes moving over a plain background, described by short prompts.

    a red circle moving left on a blue background
    a yellow triangle bouncing on a black background
    a white square orbiting on a gray background

Every motion goes on forever (wrap-around, reflection off the walls, a circular orbit), so a
trajectory can be sampled at any frame offset and a long video still makes sense. Frames are
32x32 RGB in [0, 1], rendered with a one-pixel anti-aliased edge. Everything is vectorised
over (clip, frame, pixel) in torch; a batch of 64 clips of 16 frames takes a few milliseconds.

Words and the tokenizer (word level, docs/model-architecture.md §4) live here as well, since
the vocabulary is the domain.
"""
import re
from dataclasses import dataclass

import numpy as np
import torch

SIZE = 32  # frame side in pixels
NATIVE_FRAMES = 16  # native clip length of the model

# One RGB value per colour name, used both for objects and for backgrounds.
PALETTE = {
    "red": (220, 40, 40),
    "green": (40, 190, 70),
    "blue": (40, 80, 230),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
    "black": (10, 10, 10),
    "gray": (128, 128, 128),
}
OBJECT_COLORS = ["red", "green", "blue", "yellow", "white"]
BACKGROUNDS = ["black", "gray", "blue", "green"]
SHAPES = ["circle", "square", "triangle"]
MOTIONS = ["moving left", "moving right", "moving up", "moving down", "bouncing", "orbiting"]
STRAIGHT = 4  # MOTIONS[:4] are straight, in opposite pairs (left/right, up/down)


def opposite_motion(m):
    """Index (or array of indices) of the opposite straight motion: "moving left" <-> "moving right"."""
    assert np.all(np.asarray(m) < STRAIGHT), "only straight motions have an opposite"
    return m ^ 1

# ----------------------------------------------------------------------------------------------
# Tokenizer

SPECIALS = ["<pad>", "<bos>", "<eos>"]
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
MAX_LENGTH = 16
_WORDS = sorted({w for p in [" ".join(MOTIONS), " ".join(PALETTE), " ".join(SHAPES),
                             "a on background"] for w in p.split()})
VOCAB = {w: i for i, w in enumerate(SPECIALS + _WORDS)}


def tokenize(prompts, vocab=VOCAB, max_length=MAX_LENGTH):
    """Lowercase, split on runs of non-letters, [BOS, words..., EOS, PAD...] -> int64 [P, max_length]."""
    out = torch.full((len(prompts), max_length), PAD_ID, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        words = [w for w in re.split(r"[^a-z]+", prompt.lower()) if w]
        unknown = [w for w in words if w not in vocab]
        assert not unknown, f"words not in the vocabulary: {unknown} (prompt {prompt!r})"
        ids = [BOS_ID] + [vocab[w] for w in words] + [EOS_ID]
        assert len(ids) <= max_length, f"prompt {prompt!r} has {len(ids)} tokens > {max_length}"
        out[row, : len(ids)] = torch.tensor(ids)
    return out


def tokenizer_json():
    """The tokenizer.json shipped with the model (docs/model-architecture.md §4)."""
    return {"type": "word-level", "lowercase": True, "split": "[^a-z]+", "vocab": VOCAB,
            "bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID,
            "max_length": MAX_LENGTH}


# ----------------------------------------------------------------------------------------------
# Scene specs

@dataclass
class Specs:
    """One row per clip; indices into OBJECT_COLORS, SHAPES, MOTIONS, BACKGROUNDS."""
    color: np.ndarray
    shape: np.ndarray
    motion: np.ndarray
    background: np.ndarray
    radius: np.ndarray  # object size in pixels (circle radius)
    x0: np.ndarray  # position at frame 0 (pixels), or orbit phase for "orbiting"
    y0: np.ndarray
    vx: np.ndarray  # pixels per frame, or angular speed (rad / frame) in vx for "orbiting"
    vy: np.ndarray

    def __len__(self):
        return len(self.color)

    def prompts(self):
        return [prompt(OBJECT_COLORS[c], SHAPES[s], MOTIONS[m], BACKGROUNDS[b])
                for c, s, m, b in zip(self.color, self.shape, self.motion, self.background)]


def prompt(color, shape, motion, background):
    return f"a {color} {shape} {motion} on a {background} background"


def sample_specs(n, rng, color=None, shape=None, motion=None, background=None):
    """Random scenes. Object and background colours always differ. Fixed attributes may be given by name."""
    def pick(names, fixed):
        return (np.full(n, names.index(fixed)) if fixed is not None else rng.integers(0, len(names), n))

    c, s, m = pick(OBJECT_COLORS, color), pick(SHAPES, shape), pick(MOTIONS, motion)
    b = pick(BACKGROUNDS, background)
    clash = np.array([OBJECT_COLORS[ci] == BACKGROUNDS[bi] for ci, bi in zip(c, b)])
    while clash.any() and background is None:  # redraw the background where it equals the object colour
        b[clash] = rng.integers(0, len(BACKGROUNDS), clash.sum())
        clash = np.array([OBJECT_COLORS[ci] == BACKGROUNDS[bi] for ci, bi in zip(c, b)])
    assert not clash.any(), "object and background colour are the same"
    radius = rng.uniform(4.0, 6.0, n)
    x0, y0 = rng.uniform(0, SIZE, n), rng.uniform(0, SIZE, n)
    speed = rng.uniform(1.0, 2.0, n)
    sign = lambda: rng.choice([-1.0, 1.0], n)
    vx, vy = np.zeros(n), np.zeros(n)
    name = np.array(MOTIONS)[m]
    vx = np.where(name == "moving left", -speed, vx)
    vx = np.where(name == "moving right", speed, vx)
    vy = np.where(name == "moving up", -speed, vy)  # image y grows downwards
    vy = np.where(name == "moving down", speed, vy)
    bounce = name == "bouncing"
    vx = np.where(bounce, sign() * rng.uniform(1.0, 2.0, n), vx)
    vy = np.where(bounce, sign() * rng.uniform(1.0, 2.0, n), vy)
    orbit = name == "orbiting"
    x0 = np.where(orbit, rng.uniform(0, 2 * np.pi, n), x0)  # phase
    y0 = np.where(orbit, rng.uniform(6.0, 9.0, n), y0)  # orbit radius
    vx = np.where(orbit, sign() * rng.uniform(0.25, 0.45, n), vx)  # rad / frame
    return Specs(c, s, m, b, radius, x0, y0, vx, vy)


# ----------------------------------------------------------------------------------------------
# Trajectories and rendering

def _reflect(p, lo, hi):
    """Position on a segment [lo, hi] of a point moving freely along p, reflecting at both ends."""
    length = hi - lo
    u = torch.remainder(p - lo, 2 * length)
    return lo + torch.where(u < length, u, 2 * length - u)


def centres(specs, frames, start=0):
    """Object centres (x, y), each float32 [n, frames], for frames start .. start+frames-1."""
    t = torch.arange(start, start + frames, dtype=torch.float64)[None, :]  # (1, F)
    col = lambda a: torch.as_tensor(a, dtype=torch.float64)[:, None]  # (n, 1)
    name = np.array(MOTIONS)[specs.motion]
    x_free, y_free = col(specs.x0) + col(specs.vx) * t, col(specs.y0) + col(specs.vy) * t
    x = torch.remainder(x_free, SIZE)  # moving: wrap around
    y = torch.remainder(y_free, SIZE)
    bounce = torch.as_tensor(name == "bouncing")[:, None]
    lo = col(specs.radius) + 1.0
    x = torch.where(bounce, _reflect(x_free, lo, SIZE - lo), x)
    y = torch.where(bounce, _reflect(y_free, lo, SIZE - lo), y)
    orbit = torch.as_tensor(name == "orbiting")[:, None]
    angle = col(specs.x0) + col(specs.vx) * t
    x = torch.where(orbit, SIZE / 2 + col(specs.y0) * torch.cos(angle), x)
    y = torch.where(orbit, SIZE / 2 + col(specs.y0) * torch.sin(angle), y)
    return x.float(), y.float()


def render(specs, frames, start=0, device=None):
    """Frames of every clip: float32 [n, 3, frames, 32, 32] in [0, 1], on `device` (trajectories in
    float64 on the CPU, the per-pixel work where the batch will be used)."""
    cx, cy = (c.to(device) for c in centres(specs, frames, start))  # (n, F)
    grid = torch.arange(SIZE, dtype=torch.float32, device=device) + 0.5  # pixel centres
    # periodic offsets from the centre, in [-16, 16): a shape that leaves one side enters the other
    dx = torch.remainder(grid[None, None, None, :] - cx[:, :, None, None] + SIZE / 2, SIZE) - SIZE / 2
    dy = torch.remainder(grid[None, None, :, None] - cy[:, :, None, None] + SIZE / 2, SIZE) - SIZE / 2
    r = torch.as_tensor(specs.radius, dtype=torch.float32, device=device)[:, None, None, None]
    sdf_circle = torch.sqrt(dx * dx + dy * dy) - r
    sdf_square = torch.maximum(dx.abs(), dy.abs()) - 0.85 * r
    rt = 1.25 * r  # triangle circumradius; outward edge normals at 90, 210, 330 degrees (y down)
    sdf_triangle = torch.maximum(torch.maximum(dy, -0.866 * dx - 0.5 * dy), 0.866 * dx - 0.5 * dy) - rt / 2
    shape = torch.as_tensor(specs.shape, device=device)[:, None, None, None]
    sdf = torch.where(shape == 0, sdf_circle, torch.where(shape == 1, sdf_square, sdf_triangle))
    alpha = (0.5 - sdf).clamp(0, 1)[:, None]  # (n, 1, F, H, W) pixel coverage
    rgb = lambda names, idx: (torch.tensor([PALETTE[k] for k in names], dtype=torch.float32)
                              / 255.0)[torch.as_tensor(idx)][:, :, None, None, None].to(device)  # (n, 3, 1, 1, 1)
    fg, bg = rgb(OBJECT_COLORS, specs.color), rgb(BACKGROUNDS, specs.background)
    return bg * (1 - alpha) + fg * alpha


# ----------------------------------------------------------------------------------------------
# Latent = folded pixels (docs/model-architecture.md §4)

def encode(video):
    """[n, 3, F, 32, 32] in [0, 1] -> latent [n, 48, F, 8, 8] (pixel_unshuffle 4 of 2x-1)."""
    n, _, f, h, w = video.shape
    x = (video * 2 - 1).permute(0, 2, 1, 3, 4).reshape(n * f, 3, h, w)
    x = torch.nn.functional.pixel_unshuffle(x, 4)  # (n·F, 48, 8, 8), channel c·16 + i·4 + j
    return x.reshape(n, f, 48, h // 4, w // 4).permute(0, 2, 1, 3, 4)


def decode(latent):
    """latent [n, 48, F, 8, 8] -> uint8 frames [n, F, 32, 32, 3]."""
    n, _, f, h, w = latent.shape
    x = latent.permute(0, 2, 1, 3, 4).reshape(n * f, 48, h, w)
    x = torch.nn.functional.pixel_shuffle(x, 4)  # (n·F, 3, 32, 32)
    x = torch.round(((x + 1) / 2).clamp(0, 1) * 255).to(torch.uint8)
    return x.reshape(n, f, 3, h * 4, w * 4).permute(0, 1, 3, 4, 2)


if __name__ == "__main__":  # python3 training/data.py: writes a sheet of random clips to /tmp/data_sheet.png
    from PIL import Image
    rng = np.random.default_rng(0)
    specs = sample_specs(12, rng)
    video = render(specs, 16, start=5)
    frames = decode(encode(video))  # round trip through the latent
    sheet = frames.permute(0, 2, 1, 3, 4).reshape(12 * 32, 16 * 32, 3).numpy()
    Image.fromarray(sheet).resize((16 * 64, 12 * 64), Image.NEAREST).save("/tmp/data_sheet.png")
    print("\n".join(specs.prompts()))
    print("vocab", len(VOCAB), tokenize(specs.prompts()[:2]))
