"""Reference renderer: the full-video semantics (docs/design.md, "Reference semantics") in one
process, the correctness contract that the distributed TypeScript engine is tested against.

    /usr/bin/python3 training/reference.py --prompt "a red circle bouncing on a blue background" \
        --frames 64 --seed 1 --steps 25 --guidance 7.5 --sampler dpm++ --out /tmp/red
    # prompt schedule: "FROM:prompt" switches the prompt from frame FROM on
    ... --prompt "a red circle moving right on a black background" --prompt "32:a red circle orbiting on a black background"

Writes OUT.png (a sheet, 16 frames a row) and OUT.mp4 (ffmpeg, if present).

Semantics, per denoising step, the UNet sees the whole video of N frames, batch [uncond, cond]:
- temporal attention is dual-scope: keys = [all N frames, masked to the local window |i-j| <= p |
  G = min(topK, N) global frames at floor(k·N/G)], with +b on the global keys while t >= T_phase and
  on the local keys after (model.dual_scope_bias);
- temporal convolutions and frame-spanning GroupNorms see the whole video, so they are exactly the
  full-video operations (zero padding only at the video ends, full-video statistics);
- CFG: eps = uncond + guidance·(cond − uncond), float32;
- every frame is conditioned on its prompt-schedule entry; the uncond half on "";
- noise from training/rng.py: x_T of frame j = normal(seed, PURPOSE_INITIAL_LATENT, 0, j, 3072), the
  sampler noise of frame j at step index s = normal(seed, PURPOSE_SAMPLER_NOISE, s, j, 3072);
- samplers from training/samplers.py (docs/samplers.md).
"""
import argparse
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import package  # noqa: E402
import rng  # noqa: E402
import samplers  # noqa: E402
from model import TemporalScope, dual_scope_bias, global_frame_indices  # noqa: E402

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "public", "models", "vi-shapes-tiny")
LATENT_SHAPE = (48, 8, 8)


def make_scheduler(sampler, eta=0.0):
    if sampler == "ddim":
        return samplers.DDIMScheduler(eta=eta)
    if sampler == "dpm++":
        return samplers.DPMSolverPP2MScheduler("dpmsolver++")
    if sampler == "sde-dpm++":
        return samplers.DPMSolverPP2MScheduler("sde-dpmsolver++")
    raise ValueError(f"sampler must be ddim, dpm++ or sde-dpm++, got {sampler!r}")


def parse_schedule(prompts):
    """["a ...", "16:a ..."] -> [(0, "a ..."), (16, "a ...")], sorted, first entry at frame 0."""
    out = []
    for i, p in enumerate(prompts):
        head, sep, tail = p.partition(":")
        out.append((int(head), tail) if sep and head.strip().isdigit() else (0 if i == 0 else None, p))
    assert all(f is not None for f, _ in out), f"every prompt after the first needs FROM: ({prompts})"
    out.sort(key=lambda e: e[0])
    assert out[0][0] == 0, f"the prompt schedule must start at frame 0: {out}"
    return out


def frame_prompts(schedule, n):
    """The prompt of every frame: entry with the largest from-frame <= j."""
    return [[p for f, p in schedule if f <= j][-1] for j in range(n)]


@torch.no_grad()
def encode_text(text_encoder, prompts):
    """Unique prompts -> {prompt: [16, 64] float32 tensor}."""
    uniq = sorted(set(prompts))
    hidden = text_encoder(data.tokenize(uniq))
    return {p: hidden[i] for i, p in enumerate(uniq)}


def conditioning(text_encoder, schedule, n):
    """encoder_hidden_states [2·N, 16, 64]: rows 0..N-1 uncond (""), rows N..2N-1 each frame's prompt."""
    per_frame = frame_prompts(schedule, n)
    emb = encode_text(text_encoder, per_frame + [""])
    return torch.stack([emb[""]] * n + [emb[p] for p in per_frame])


def scope_for(n, t, p, top_k, t_phase, phase_bias):
    g = global_frame_indices(n, top_k)
    return TemporalScope(g, dual_scope_bias(n, p, g, int(t), t_phase, phase_bias))


@torch.no_grad()
def unet_eps(unet, x, t, ehs, guidance, scope, fps=8, tap=None):
    """x float32 [N, 48, 8, 8] (frame-major) -> CFG eps float32 [N, 48, 8, 8]."""
    xs = torch.from_numpy(np.ascontiguousarray(x)).permute(1, 0, 2, 3)[None].expand(2, -1, -1, -1, -1)
    out = unet(xs.contiguous(), torch.tensor([float(t)] * 2), ehs, fps=fps, scope=scope, tap=tap)  # (2, 48, N, 8, 8)
    uncond, cond = out[0], out[1]
    eps = uncond + guidance * (cond - uncond)
    return eps.permute(1, 0, 2, 3).contiguous().numpy()


def render(unet, text_encoder, schedule, frames, seed, steps, guidance, sampler="dpm++", eta=0.0, p=4, top_k=8,
           t_phase=800, phase_bias=10.0, fps=8, dual_scope=True, progress=False):
    """-> dict(latents float32 [N, 48, 8, 8], frames uint8 [N, 32, 32, 3], timesteps)."""
    # 1. conditioning and scheduler
    ehs = conditioning(text_encoder, schedule, frames)
    sched = make_scheduler(sampler, eta)
    sched.set_timesteps(steps)
    # 2. initial latent, one counter-based stream per global frame
    x = rng.initial_latent(seed, range(frames), LATENT_SHAPE)  # (N, 48, 8, 8) float32
    # 3. denoising loop
    for s, t in enumerate(sched.timesteps):
        scope = scope_for(frames, t, p, top_k, t_phase, phase_bias) if dual_scope else None
        eps = unet_eps(unet, x, t, ehs, guidance, scope, fps)
        noise = (rng.frames_normal(seed, rng.PURPOSE_SAMPLER_NOISE, s, range(frames), LATENT_SHAPE)
                 if sched.is_stochastic else None)
        x = sched.step(eps, int(t), x, noise=noise).prev_sample
        if progress:
            print(f"step {s + 1}/{steps} t={int(t)}", file=sys.stderr, flush=True)
    # 4. decode: folded pixels -> RGB
    video = data.decode(torch.from_numpy(x).permute(1, 0, 2, 3)[None])[0].numpy()  # (N, 32, 32, 3)
    return {"latents": x, "frames": video, "timesteps": [int(t) for t in sched.timesteps]}


def save_sheet(frames, path, per_row=16, scale=4):
    from PIL import Image
    n = len(frames)
    rows = (n + per_row - 1) // per_row
    sheet = np.zeros((rows * 32, per_row * 32, 3), np.uint8)
    for j, f in enumerate(frames):
        sheet[(j // per_row) * 32:(j // per_row + 1) * 32, (j % per_row) * 32:(j % per_row + 1) * 32] = f
    Image.fromarray(sheet).resize((per_row * 32 * scale, rows * 32 * scale), Image.NEAREST).save(path)


def save_mp4(frames, path, fps=8, scale=4):
    """Returns False if ffmpeg is missing."""
    if shutil.which("ffmpeg") is None:
        return False
    big = np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)
    h, w = big.shape[1:3]
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", str(fps), "-i", "-", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-crf", "18", path]
    subprocess.run(cmd, input=big.tobytes(), check=True)
    return True


def load_model(model_dir=None, ckpt=None):
    if ckpt:
        unet, text, _ = package.load_checkpoint(ckpt)
        return unet, text
    unet, text, _ = package.load(model_dir or DEFAULT_MODEL)
    return unet, text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompt", action="append", required=True, help='"prompt" or "FROM:prompt" (repeatable)')
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--sampler", default="dpm++", choices=["ddim", "dpm++", "sde-dpm++"])
    ap.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0 = ODE)")
    ap.add_argument("--p", type=int, default=4, help="local window half-width")
    ap.add_argument("--top-k", type=int, default=8, help="number of global frames")
    ap.add_argument("--t-phase", type=int, default=800)
    ap.add_argument("--phase-bias", type=float, default=10.0)
    ap.add_argument("--model", default=None, help="package folder (default public/models/vi-shapes-tiny)")
    ap.add_argument("--ckpt", default=None, help="render from a training checkpoint's EMA weights instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/reference")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    unet, text = load_model(a.model, a.ckpt)
    schedule = parse_schedule(a.prompt)
    res = render(unet, text, schedule, a.frames, a.seed, a.steps, a.guidance, a.sampler, a.eta, a.p, a.top_k,
                 a.t_phase, a.phase_bias, progress=True)
    save_sheet(res["frames"], a.out + ".png")
    print(f"wrote {a.out}.png" + (f" and {a.out}.mp4" if save_mp4(res["frames"], a.out + ".mp4") else ""))


if __name__ == "__main__":
    main()
