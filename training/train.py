"""Train the embedded model (UNet + text encoder) on the synthetic shapes domain.

    # the real run, in the background, resumable (re-run the same line after a kill):
    nohup nice -n 10 /usr/bin/python3 training/train.py > /dev/null 2>&1 &
    tail -f training/runs/vi-shapes-tiny/log.txt
    # a quick smoke test:
    /usr/bin/python3 training/train.py training/config/smoke.py
    # any default can be overridden: --key=value (after config files)

Resumes from training/runs/<name>/ckpt.pt if it exists, else from `init_from` (the committed
training/checkpoints/ckpt.pt) if that exists, else starts fresh.
"""
import ast
import contextlib
import math
import os
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import package  # noqa: E402
from model import CLIPTextModel, TextConfig, UNet3DConditionModel, UNetConfig, alphas_cumprod  # noqa: E402

# ----------------------------------------------------------------------------------------------
# Defaults (override with config files or --key=value)
name = "vi-shapes-tiny"  # run folder: training/runs/<name>/
init_from = "training/checkpoints/ckpt.pt"  # used only when the run folder has no checkpoint
threads = 1  # the machine has 2 cores shared with others: two OpenMP threads stall each other when preempted
# curriculum, VideoCrafter-style: (from step, frames per clip, clips per batch). Single frames learn
# appearance fast (colour, shape, background); short clips then 16-frame clips learn the motion.
curriculum = [(0, 1, 32), (2000, 4, 8), (5000, 16, 6)]
lr = 5e-4  # AdamW; small model, easy domain
warmup = 500  # linear LR warmup steps
weight_decay = 0.01
grad_clip = 1.0
min_snr_gamma = 5.0  # min-SNR-γ loss weighting (Hang et al. 2023): faster convergence
# High-noise emphasis. The motion direction is decided in the first sampling steps (t > ~850), where a
# plain ε loss weighs x0 errors by SNR (0.005 at t=999): the text barely pays for itself there.
t_high_frac = 0.0  # fraction of clips whose t is drawn from [t_high_from, 1000) instead of [0, 1000)
t_high_from = 700
x0_weight_floor = 0.0  # ε-loss weight max(min(SNR, γ), floor) / SNR: x0 errors weigh at least `floor`
# Anchor-frame clips: one random frame at t in [0, anchor_t_max), the others at the clip's t from
# [t_high_from, 1000). The anchor shows where the object is, so only the motion word says where it
# goes: the word pays at once, where with one t per clip its value hides in the noisiest steps.
# Training only (the model takes a (B, F) timestep); sampling keeps one t per call.
frame_t_frac = 0.0  # fraction of clips made anchor-frame clips
anchor_t_max = 400
# Direction contrast: each straight-motion clip is also denoised under the opposite word (left <-> right,
# up <-> down), and a hinge relu(margin + L_right_word - L_opposite_word) on the two weighted losses is
# added with this weight. Its gradient is zero wherever the output does not depend on the word, so it
# carries only the word's pathway, without the common-mode gradient that swamps it in the plain loss.
direction_contrast = 0.0  # weight of the hinge (0 = off; costs one more forward/backward per such clip)
direction_margin = 0.02
# "opposite": straight clips against the opposite word only (teaches the sign of the velocity, not its
# axis: v8 turned "down" into "right" and "up" into "left"); "any": every captioned clip against a random
# other motion word, so left/right is also contrasted with up/down and orbiting with bouncing.
contrast_motion = "opposite"
text_dropout = 0.1  # fraction of empty prompts, for classifier-free guidance
fps = 8  # the fps condition (constant: the domain has one speed range)
ema_decay = 0.999
max_steps = 10 ** 9  # run until killed
log_every = 50
ckpt_minutes = 5.0
seed = 0
# accelerator runs (CUDA when present): bf16 autocast, fused AdamW, the batch rendered on the device
device = "cuda" if torch.cuda.is_available() else "cpu"
amp = "bf16"  # autocast dtype on CUDA ("" = fp32); the CPU always trains in fp32
fused = True  # fused AdamW on CUDA
deadline = 0.0  # unix time: save and stop before it (0 = none); a device lease is fixed in length
lr_decay = ""  # "cosine-deadline": cosine from lr to lr_min between the start of this run and the deadline
lr_min = 1e-5
rewarm = 0  # linear LR warm-up over this many steps from the resumed step (a new batch regime)
export_dir = ""  # also write each checkpoint here in parts of < 15 MB (+ the log), for a device's $OUT

# poor man's configurator (nanoGPT): config files, then --key=value
for arg in sys.argv[1:]:
    if not arg.startswith("--"):
        exec(open(arg).read())
    else:
        key, val = arg[2:].split("=", 1)
        assert key in globals(), f"unknown config key {key}"
        try:
            val = ast.literal_eval(val)
        except (ValueError, SyntaxError):
            pass
        globals()[key] = val
assert contrast_motion in ("opposite", "any"), f"unknown contrast_motion {contrast_motion!r}"

# ----------------------------------------------------------------------------------------------
# Setup
torch.set_num_threads(threads)
use_amp = device == "cuda" and amp == "bf16"
if device == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
run_dir = os.path.join("training", "runs", name)
os.makedirs(run_dir, exist_ok=True)
log_file = open(os.path.join(run_dir, "log.txt"), "a")


def log(msg):
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
    print(line, flush=True)
    log_file.write(line + "\n")
    log_file.flush()


torch.manual_seed(seed)
unet = UNet3DConditionModel(UNetConfig()).to(device)
text_encoder = CLIPTextModel(TextConfig(vocab_size=len(data.VOCAB))).to(device)
params = list(unet.parameters()) + list(text_encoder.parameters())
ema = [p.detach().clone() for p in params]
opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay,
                        **({"fused": True} if device == "cuda" and fused else {}))
rng = np.random.default_rng(seed)
step, frames_seen, clips_seen = 0, 0, 0

ckpt_path = os.path.join(run_dir, "ckpt.pt")
resume = ckpt_path if os.path.exists(ckpt_path) else (init_from if init_from and os.path.exists(init_from) else None)
if resume:
    ck = package.expand_checkpoint(torch.load(resume, map_location="cpu"))  # the committed copy is compact
    unet.load_state_dict(ck["unet"])
    text_encoder.load_state_dict(ck["text_encoder"])
    ema_sd = {**{"unet." + k: v for k, v in ck["ema_unet"].items()},
              **{"text_encoder." + k: v for k, v in ck["ema_text_encoder"].items()}}
    names = [f"unet.{n}" for n, _ in unet.named_parameters()] + \
            [f"text_encoder.{n}" for n, _ in text_encoder.named_parameters()]
    ema = [ema_sd[n].clone().to(device) for n in names]
    opt.load_state_dict(ck["optimizer"])
    step, frames_seen, clips_seen = ck["step"], ck["frames_seen"], ck["clips_seen"]
    if "rng" in ck:
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
    log(f"resumed from {resume} at step {step} ({frames_seen:,} frames, {clips_seen:,} clips)")
else:
    log("fresh start")
log(f"unet {sum(p.numel() for p in unet.parameters()):,} params, "
    f"text encoder {sum(p.numel() for p in text_encoder.parameters()):,} params; curriculum {curriculum}; "
    f"device {device}{' (' + torch.cuda.get_device_name() + ')' if device == 'cuda' else ''}"
    f"{', bf16 autocast' if use_amp else ''}")
if device == "cuda":
    torch.cuda.manual_seed(seed * 1_000_003 + step)  # CUDA noise differs per resumed run

acp = alphas_cumprod().float().to(device)
snr = acp / (1 - acp)
loss_weight = torch.clamp(snr, max=min_snr_gamma).clamp(min=x0_weight_floor) / snr  # ε form of min-SNR-γ
empty_ids = data.tokenize([""]).to(device)
start_step, t_start = step, time.time()


def to_cpu(obj):
    """Checkpoints are written with CPU tensors so that any machine loads them."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def learning_rate():
    warm = min(1.0, (step + 1) / warmup)
    if rewarm:
        warm = min(warm, (step - start_step + 1) / rewarm)
    if lr_decay == "cosine-deadline" and deadline:
        frac = min(1.0, (time.time() - t_start) / max(1.0, deadline - t_start))
        return warm * (lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * frac)))
    assert not lr_decay, f"unknown lr_decay {lr_decay!r}"
    return warm * lr


def state_dicts():
    """EMA weights as state dicts (buffers none: the model has no buffers)."""
    it = iter(ema)
    ema_u = {n: next(it).clone() for n, _ in unet.named_parameters()}
    ema_t = {n: next(it).clone() for n, _ in text_encoder.named_parameters()}
    return ema_u, ema_t


def save():
    ema_u, ema_t = state_dicts()
    ck = {"unet": unet.state_dict(), "text_encoder": text_encoder.state_dict(), "ema_unet": ema_u,
          "ema_text_encoder": ema_t, "optimizer": opt.state_dict(), "step": step, "frames_seen": frames_seen,
          "clips_seen": clips_seen, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
          "config": {"unet": unet.config.to_json(), "text_encoder": text_encoder.config.to_json()}}
    torch.save(to_cpu(ck), ckpt_path + ".tmp")
    os.replace(ckpt_path + ".tmp", ckpt_path)  # atomic: a kill never leaves half a checkpoint
    if export_dir:  # join with: cat ckpt.pt.part* > ckpt.pt
        package.write_parts(ckpt_path, export_dir)
        shutil.copy(os.path.join(run_dir, "log.txt"), os.path.join(export_dir, "log.txt"))


# ----------------------------------------------------------------------------------------------
# Loop
last_ckpt, t_log, losses, gaps = time.time(), time.time(), [], []
frames_at_log = frames_seen
save_seconds = 0.0  # how long one save takes, so that the last one still ends before the deadline
while step < max_steps:
    frames, batch = [(f, b) for s, f, b in curriculum if step >= s][-1]
    specs = data.sample_specs(batch, rng)
    x0 = data.encode(data.render(specs, frames, start=int(rng.integers(0, 1000)), device=device))  # (B, 48, F, 8, 8)
    ids = data.tokenize(specs.prompts()).to(device)
    drop = torch.from_numpy(rng.random(batch) < text_dropout).to(device)
    ids = torch.where(drop[:, None], empty_ids, ids)
    if direction_contrast:  # append the contrasted clips again, under another motion word
        captioned = ~drop.cpu().numpy()
        pick = np.flatnonzero(captioned & (specs.motion < data.STRAIGHT) if contrast_motion == "opposite" else captioned)
        flipped = data.Specs(*[getattr(specs, f)[pick] for f in data.Specs.__dataclass_fields__])
        flipped.motion = (data.opposite_motion(flipped.motion) if contrast_motion == "opposite" else
                          (flipped.motion + rng.integers(1, len(data.MOTIONS), len(pick))) % len(data.MOTIONS))
        ids = torch.cat([ids, data.tokenize(flipped.prompts()).to(device)])
    t = torch.randint(0, 1000, (batch,), device=device)
    if t_high_frac:
        high = torch.rand(batch, device=device) < t_high_frac
        t = torch.where(high, torch.randint(t_high_from, 1000, (batch,), device=device), t)
    t_frames = t[:, None].expand(batch, frames)  # (B, F) noise level of every frame
    if frame_t_frac and frames > 1:
        anchored = torch.rand(batch, device=device) < frame_t_frac
        t_hi = torch.randint(t_high_from, 1000, (batch, 1), device=device).expand(batch, frames)
        anchor = torch.nn.functional.one_hot(torch.randint(0, frames, (batch,), device=device), frames).bool()
        t_lo = torch.randint(0, anchor_t_max, (batch, 1), device=device).expand(batch, frames)
        t_frames = torch.where(anchored[:, None], torch.where(anchor, t_lo, t_hi), t_frames)
    noise = torch.randn_like(x0)
    a = acp[t_frames][:, None, :, None, None]  # (B, 1, F, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise

    cur_lr = learning_rate()
    for g in opt.param_groups:
        g["lr"] = cur_lr
    if direction_contrast:
        xt, noise, t, t_frames = (torch.cat([v, v[pick]]) for v in (xt, noise, t, t_frames))
    with torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext():
        pred = unet(xt, t_frames if frame_t_frac else t, text_encoder(ids), fps=fps)
    per_frame = (pred.float() - noise).pow(2).mean(dim=(1, 3, 4))  # (B, F)
    weighted = (per_frame * loss_weight[t_frames]).mean(dim=1)
    per_sample = per_frame[:batch].mean(dim=1)
    loss = weighted[:batch].mean()
    if direction_contrast and len(pick):
        gap = weighted[pick] - weighted[batch:]  # right word minus opposite word, per clip
        loss = loss + direction_contrast * torch.relu(direction_margin + gap).mean()
        gaps.append(gap.mean().detach())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()
    decay = min(ema_decay, (1 + step) / (10 + step))
    with torch.no_grad():
        torch._foreach_mul_(ema, decay)
        torch._foreach_add_(ema, [p.detach() for p in params], alpha=1 - decay)

    step += 1
    frames_seen += batch * frames
    clips_seen += batch
    losses.append(per_sample.mean().detach())  # read back only at log time: no sync per step
    if step % log_every == 0:
        mean_loss = torch.stack(losses).mean().item()
        if not math.isfinite(mean_loss):
            log(f"non-finite loss before step {step}; stopping without saving")
            sys.exit(1)
        dt = time.time() - t_log
        log(f"step {step} frames {frames_seen:,} clips {clips_seen:,} F={frames} B={batch} "
            f"loss {mean_loss:.4f} (weighted {loss.item():.4f}) gnorm {gnorm.item():.2f} lr {cur_lr:.2e} "
            f"{(frames_seen - frames_at_log) / dt:.0f} frames/s"
            + (f" word gap {torch.stack(gaps).mean().item():+.5f}" if gaps else ""))
        t_log, losses, gaps, frames_at_log = time.time(), [], [], frames_seen
    out_of_time = deadline and time.time() + 2 * save_seconds + 5 > deadline
    if out_of_time:
        break
    if time.time() - last_ckpt > ckpt_minutes * 60:
        t0 = time.time()
        save()
        save_seconds = max(save_seconds, time.time() - t0)
        last_ckpt = time.time()
        log(f"checkpoint step {step} -> {ckpt_path} ({save_seconds:.1f} s)")
save()
log(f"done at step {step} ({frames_seen:,} frames)")
if export_dir:
    shutil.copy(os.path.join(run_dir, "log.txt"), os.path.join(export_dir, "log.txt"))
