"""Quality evaluation: render random prompts with the reference renderer and score them automatically.

    /usr/bin/python3 training/evaluate.py                       # the shipped package
    /usr/bin/python3 training/evaluate.py --ckpt training/runs/vi-shapes-tiny/ckpt.pt --out /tmp/eval
    /usr/bin/python3 training/evaluate.py --ground-truth         # scores the data itself (checks the scorer)

Per 16-frame clip (majority over frames): background colour, object colour (nearest palette colour),
shape (best IoU against the three templates at the measured centroid and area) and motion (from
the centroid track: orbit, bounce, or the dominant direction). Bar (issue 3): background >= 95%,
object colour >= 85%, motion >= 75%. Then a long video (128 frames, dual-scope) per long prompt,
scored frame by frame for background, colour and shape. Writes scores.json, sheet.png, long_*.png
and long_*.mp4 into --out (default training/eval/).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import reference  # noqa: E402
from model import TemporalScope  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = list(data.PALETTE)
RGB = np.array([data.PALETTE[k] for k in NAMES], dtype=np.float64)
BAR = {"background": 0.95, "object_color": 0.85, "motion": 0.75}
LONG_PROMPTS = ["a red circle bouncing on a blue background", "a yellow triangle moving right on a black background",
                "a white square orbiting on a gray background"]


def nearest(rgb):
    return NAMES[int(np.argmin(((RGB - rgb) ** 2).sum(-1)))]


def periodic_mean(coord, w):
    """Circular mean of pixel coordinates on a 32-periodic axis, weights w."""
    ang = 2 * np.pi * coord / data.SIZE
    c, s = (w * np.cos(ang)).sum(), (w * np.sin(ang)).sum()
    return (np.arctan2(s, c) % (2 * np.pi)) * data.SIZE / (2 * np.pi)


def analyse_frame(frame):
    """frame uint8 [32, 32, 3] -> dict(background, color, cx, cy, area, mask)."""
    f = frame.astype(np.float64)
    bg_rgb = np.median(f.reshape(-1, 3), axis=0)
    dist = np.sqrt(((f - bg_rgb) ** 2).sum(-1))
    out = {"background": nearest(bg_rgb), "color": None, "cx": None, "cy": None, "area": 0.0}
    mask = np.clip(dist / 80.0, 0, 1)  # soft object mask
    if mask.sum() < 3:
        return out
    core = dist > 0.6 * dist.max()
    out["color"] = nearest(np.median(f[core], axis=0))
    yy, xx = np.mgrid[0:data.SIZE, 0:data.SIZE] + 0.5
    out["cx"], out["cy"] = periodic_mean(xx, mask), periodic_mean(yy, mask)
    out["area"], out["mask"] = mask.sum(), mask
    return out


def shape_of(info):
    """Best IoU among circle / square / triangle templates of the same area at the centroid."""
    if info["cx"] is None:
        return None
    a = info["area"]
    sizes = [np.sqrt(a / np.pi), np.sqrt(a) / 2 / 0.85, np.sqrt(4 * a / (3 * np.sqrt(3))) / 1.25]  # data.render's r
    grid = np.arange(data.SIZE) + 0.5
    dx = (grid[None, :] - info["cx"] + 16) % 32 - 16  # periodic offsets, as data.render
    dy = (grid[:, None] - info["cy"] + 16) % 32 - 16
    sdfs = [np.sqrt(dx * dx + dy * dy) - sizes[0], np.maximum(abs(dx), abs(dy)) - 0.85 * sizes[1],
            np.maximum(np.maximum(dy, -0.866 * dx - 0.5 * dy), 0.866 * dx - 0.5 * dy) - 1.25 * sizes[2] / 2]
    ious = []
    for sdf in sdfs:
        tmpl = np.clip(0.5 - sdf, 0, 1)
        ious.append(np.minimum(tmpl, info["mask"]).sum() / np.maximum(tmpl, info["mask"]).sum())
    return data.SHAPES[int(np.argmax(ious))]


def motion_of(infos):
    """Classify the centroid track: orbiting, bouncing, moving left/right/up/down, or static."""
    pts = [(i["cx"], i["cy"]) for i in infos if i["cx"] is not None]
    if len(pts) < 4:
        return "none"
    p = np.array(pts)
    d = (np.diff(p, axis=0) + 16) % 32 - 16  # wrapped steps
    rel = p - 16
    ang = np.arctan2(rel[:, 1], rel[:, 0])
    dang = (np.diff(ang) + np.pi) % (2 * np.pi) - np.pi
    radius = np.hypot(rel[:, 0], rel[:, 1])
    same_sign = max((dang > 0).mean(), (dang < 0).mean())
    heading = np.arctan2(d[:, 1], d[:, 0])
    turn = (np.diff(heading) + np.pi) % (2 * np.pi) - np.pi  # an orbit turns steadily; a straight track does not
    same_turn = max((turn > 0).mean(), (turn < 0).mean())
    if (abs(dang.mean()) > 0.12 and same_sign > 0.85 and 3.5 < radius.mean() < 12 and radius.std() < 2.5
            and abs(turn.mean()) > 0.12 and same_turn > 0.75):
        return "orbiting"
    mean_abs = np.abs(d).mean(0)
    if mean_abs.max() < 0.3:
        return "static"
    if mean_abs.min() > 0.4 and mean_abs.min() > 0.35 * mean_abs.max():
        return "bouncing"
    mx, my = d.mean(0)
    if abs(mx) >= abs(my):
        return "moving right" if mx > 0 else "moving left"
    return "moving down" if my > 0 else "moving up"


def majority(values):
    values = [v for v in values if v is not None]
    return max(set(values), key=values.count) if values else None


def score_clip(frames, spec_row):
    infos = [analyse_frame(f) for f in frames]
    want = {"background": data.BACKGROUNDS[spec_row[3]], "object_color": data.OBJECT_COLORS[spec_row[0]],
            "shape": data.SHAPES[spec_row[1]], "motion": data.MOTIONS[spec_row[2]]}
    got = {"background": majority([i["background"] for i in infos]), "object_color": majority([i["color"] for i in infos]),
           "shape": majority([shape_of(i) for i in infos]), "motion": motion_of(infos)}
    return want, got


def frame_scores(frames, want):
    """Per-frame correctness of background, object colour and shape (for long videos)."""
    ok = {"background": [], "object_color": [], "shape": []}
    for f in frames:
        i = analyse_frame(f)
        ok["background"].append(i["background"] == want["background"])
        ok["object_color"].append(i["color"] == want["object_color"])
        ok["shape"].append(shape_of(i) == want["shape"])
    return {k: float(np.mean(v)) for k, v in ok.items()}


@torch.no_grad()
def render_many(unet, text, prompts, frames, seeds, steps, guidance, sampler, dual_scope=True, device="cpu"):
    """K independent videos in one batch [uncond x K, cond x K]: the same maths as K calls of
    reference.render (every cross-frame op is per batch element, the samplers are elementwise)."""
    k = len(prompts)
    sched = reference.make_scheduler(sampler)
    sched.set_timesteps(steps)
    emb = reference.encode_text(text, list(prompts) + [""])
    ehs = torch.stack([emb[""]] * (k * frames) + [emb[p] for p in prompts for _ in range(frames)])  # row b·F + f
    x = np.stack([reference.rng.initial_latent(s, range(frames)) for s in seeds])  # (K, N, 48, 8, 8)
    for i, t in enumerate(sched.timesteps):
        scope = reference.scope_for(frames, t, 4, 8, 800, 10.0) if dual_scope else None
        if scope is not None:
            scope = TemporalScope(scope.global_idx.to(device), scope.bias.to(device))
        xs = torch.from_numpy(x).permute(0, 2, 1, 3, 4).to(device)  # (K, 48, N, 8, 8)
        out = unet(torch.cat([xs, xs]), torch.full((2 * k,), float(t), device=device), ehs.to(device),
                   scope=scope).cpu()
        eps = (out[:k] + guidance * (out[k:] - out[:k])).permute(0, 2, 1, 3, 4).contiguous().numpy()
        noise = (np.stack([reference.rng.frames_normal(s, reference.rng.PURPOSE_SAMPLER_NOISE, i, range(frames),
                                                       reference.LATENT_SHAPE) for s in seeds])
                 if sched.is_stochastic else None)
        x = sched.step(eps, int(t), x, noise=noise).prev_sample
    return data.decode(torch.from_numpy(x).permute(0, 2, 1, 3, 4)).numpy()  # (K, N, 32, 32, 3)


def labelled_sheet(clips, labels, path, scale=2):
    from PIL import Image, ImageDraw
    n, f = len(clips), clips[0].shape[0]
    row_h = 32 * scale + 12
    sheet = Image.new("RGB", (f * 32 * scale, n * row_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (clip, label) in enumerate(zip(clips, labels)):
        strip = np.concatenate(list(clip), axis=1)
        img = Image.fromarray(strip).resize((f * 32 * scale, 32 * scale), Image.NEAREST)
        sheet.paste(img, (0, r * row_h + 12))
        draw.text((2, r * row_h), label, fill=(0, 0, 0))
    sheet.save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "eval"))
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--sampler", default="dpm++")
    ap.add_argument("--long-frames", type=int, default=128)
    ap.add_argument("--no-long", action="store_true")
    ap.add_argument("--plain", action="store_true", help="full attention over the clip instead of dual-scope")
    ap.add_argument("--ground-truth", action="store_true", help="score rendered data instead of the model")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="where the UNet runs for the 16-frame clips (e.g. cuda)")
    ap.add_argument("--batch", type=int, default=10, help="clips per UNet batch")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    specs = data.sample_specs(a.n, np.random.default_rng(a.seed))
    prompts = specs.prompts()
    if not a.ground_truth:
        unet, text = reference.load_model(a.model, a.ckpt)
        unet.to(a.device)
    t0 = time.time()
    clips, rows, labels = [], [], []
    rendered = []
    for c in range(0, a.n, a.batch):  # batched: same result as one reference.render per clip, faster
        idx = list(range(c, min(a.n, c + a.batch)))
        if a.ground_truth:
            rendered += list(data.decode(data.encode(data.render(_row(specs, idx), 16))).numpy())
        else:
            rendered += list(render_many(unet, text, [prompts[k] for k in idx], 16, [a.seed + k for k in idx],
                                         a.steps, a.guidance, a.sampler, dual_scope=not a.plain, device=a.device))
    for k, clip in enumerate(rendered):
        want, got = score_clip(clip, (specs.color[k], specs.shape[k], specs.motion[k], specs.background[k]))
        rows.append({"prompt": prompts[k], "want": want, "got": got})
        clips.append(clip)
        miss = [key for key in want if want[key] != got[key]]
        labels.append(f"{prompts[k]}" + (f"   X {', '.join(f'{m}={got[m]}' for m in miss)}" if miss else "   ok"))
    acc = {key: float(np.mean([r["want"][key] == r["got"][key] for r in rows])) for key in rows[0]["want"]}
    print(f"{a.n} clips in {time.time() - t0:.0f}s: " + ", ".join(f"{k} {v:.0%}" for k, v in acc.items()))
    labelled_sheet(clips, labels, os.path.join(a.out, "sheet.png"))

    long = []
    if not a.no_long and not a.ground_truth:
        unet.cpu()  # the long videos run the reference renderer, which is CPU-only
        for j, p in enumerate(LONG_PROMPTS):
            res = reference.render(unet, text, [(0, p)], a.long_frames, seed=a.seed + 1000 + j, steps=a.steps,
                                   guidance=a.guidance, sampler=a.sampler)
            words = p.split()
            want = {"background": words[-2], "object_color": words[1], "shape": words[2]}
            sc = frame_scores(res["frames"], want)
            sc["motion_per_16"] = [motion_of([analyse_frame(f) for f in res["frames"][s:s + 16]])
                                   for s in range(0, a.long_frames, 16)]
            long.append({"prompt": p, "frames": a.long_frames, **sc})
            print(f"long {a.long_frames} frames '{p}': " + ", ".join(f"{k} {v}" if isinstance(v, list) else f"{k} {v:.0%}"
                                                                   for k, v in sc.items()))
            reference.save_sheet(res["frames"], os.path.join(a.out, f"long_{j}.png"), scale=2)
            reference.save_mp4(res["frames"], os.path.join(a.out, f"long_{j}.mp4"))
    meets = all(acc[k] >= v for k, v in BAR.items())
    result = {"model": a.ckpt or a.model or "public/models/vi-shapes-tiny", "ground_truth": a.ground_truth,
              "clips": a.n, "frames": 16, "steps": a.steps, "guidance": a.guidance, "sampler": a.sampler,
              "attention": "plain" if a.plain else "dual-scope p=4 topK=8", "accuracy": acc, "bar": BAR,
              "meets_bar": meets, "long_videos": long, "per_clip": rows}
    with open(os.path.join(a.out, "scores.json"), "w") as f:
        f.write(json.dumps(result, indent=1) + "\n")
    print("meets the bar" if meets else "below the bar", {k: f"{acc[k]:.0%} (>= {v:.0%})" for k, v in BAR.items()})


def _row(specs, idx):
    return data.Specs(*(np.asarray(getattr(specs, f))[idx] for f in
                        ("color", "shape", "motion", "background", "radius", "x0", "y0", "vx", "vy")))


if __name__ == "__main__":
    main()
