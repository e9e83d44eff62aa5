"""How much does the motion word steer the model? Two cheap probes, for tracking issue 3's motion bar.

    /usr/bin/python3 training/motion_probe.py [--ckpt training/runs/vi-shapes-tiny/ckpt.pt] [--seeds 6]

1. Conditioning gap: real 16-frame clips of straight motions are noised to t, and the model's x0 error
   with the right prompt is compared with the same prompt carrying the opposite motion word. A model
   that ignores the word gives a ratio of 1.00.
2. Steering: for each seed, the four straight motion words are rendered from the same initial noise
   (same colour, shape, background), and each clip's mean centroid step is compared with the word's
   direction. "follows" counts the clips whose step points within 45° of it; "same path" is the mean
   cosine between the steps of different words for one seed (1.00: the noise alone picks the path).
"""
import argparse
import dataclasses
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import evaluate  # noqa: E402
import reference  # noqa: E402
from model import alphas_cumprod  # noqa: E402

STRAIGHT = {"moving right": (1, 0), "moving left": (-1, 0), "moving down": (0, 1), "moving up": (0, -1)}
OPPOSITE = {w: data.MOTIONS[data.opposite_motion(i)] for i, w in enumerate(data.MOTIONS[:data.STRAIGHT])}


@torch.no_grad()
def conditioning_gap(unet, text, n=48, ts=(999, 900, 800, 700, 500, 300), anchor_t=None):
    """x0 error with the right vs the opposite word. anchor_t: frame 8 at that t instead (an anchor-frame
    clip, as train.py's frame_t_frac makes them), the error then counted on the other frames only."""
    rng = np.random.default_rng(7)
    groups = [data.sample_specs(n // 4, rng, motion=w) for w in STRAIGHT]  # straight motions only
    specs = data.Specs(*[np.concatenate([getattr(g, f.name) for g in groups]) for f in dataclasses.fields(data.Specs)])
    x0 = data.encode(data.render(specs, 16, start=11))
    good = specs.prompts()
    bad = [p.replace(data.MOTIONS[m], OPPOSITE[data.MOTIONS[m]]) for p, m in zip(good, specs.motion)]
    emb = reference.encode_text(text, good + bad)
    acp = alphas_cumprod().float()
    g = torch.Generator().manual_seed(0)
    frames = torch.ones(16, dtype=torch.bool)
    if anchor_t is not None:
        frames[8] = False
    for t in ts:
        t_frames = torch.full((len(good), 16), t)
        if anchor_t is not None:
            t_frames[:, 8] = anchor_t
        noise = torch.randn(x0.shape, generator=g)
        a = acp[t_frames][:, None, :, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        err = []
        for prompts in (good, bad):
            eps = unet(xt, t_frames.float(), torch.stack([emb[p] for p in prompts]))
            x0_hat = (xt - (1 - a).sqrt() * eps) / a.sqrt()
            err.append((x0_hat - x0)[:, :, frames].pow(2).mean().item())
        what = f"t={t:4d}" + (f" (frame 8 at t={anchor_t})" if anchor_t is not None else "")
        print(f"{what}: x0 error right word {err[0]:.4f}, opposite word {err[1]:.4f}, ratio {err[1] / err[0]:.3f}",
              flush=True)


def steering(unet, text, seeds, steps=20, guidance=7.5):
    words = list(STRAIGHT)
    follows, cosines = [], []
    for s in seeds:
        rng = np.random.default_rng(s)
        color, shape = data.OBJECT_COLORS[rng.integers(0, 5)], data.SHAPES[rng.integers(0, 3)]
        bg = [b for b in data.BACKGROUNDS if b != color][rng.integers(0, 3)]
        prompts = [data.prompt(color, shape, w, bg) for w in words]
        clips = evaluate.render_many(unet, text, prompts, 16, [s] * 4, steps, guidance, "dpm++")
        mean_steps = []
        for w, clip in zip(words, clips):
            pts = np.array([(i["cx"], i["cy"]) for i in map(evaluate.analyse_frame, clip) if i["cx"] is not None])
            step = ((np.diff(pts, axis=0) + 16) % 32 - 16).mean(0) if len(pts) > 1 else np.zeros(2)
            mean_steps.append(step)
            cos = step @ np.array(STRAIGHT[w]) / max(1e-9, np.linalg.norm(step))
            follows.append(cos > np.cos(np.pi / 4))
        unit = [v / max(1e-9, np.linalg.norm(v)) for v in mean_steps]
        pair = [unit[i] @ unit[j] for i in range(4) for j in range(i + 1, 4)]
        cosines.append(np.mean(pair))
        print(f"seed {s}: {color} {shape} on {bg}: " + ", ".join(
            f"{w.split()[1]} ({v[0]:+.1f}, {v[1]:+.1f})" for w, v in zip(words, mean_steps)), flush=True)
    print(f"follows the word: {np.mean(follows):.0%} of {len(follows)} clips; same path across words: "
          f"mean cosine {np.mean(cosines):.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    unet, text = reference.load_model(a.model, a.ckpt)
    conditioning_gap(unet, text)
    conditioning_gap(unet, text, ts=(999, 900, 700), anchor_t=100)
    if a.seeds:
        steering(unet, text, range(100, 100 + a.seeds))


if __name__ == "__main__":
    main()
