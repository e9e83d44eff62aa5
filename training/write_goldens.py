"""Golden fixtures for the TypeScript compiler and engine (docs/exchange-points.md), from the committed
weights in public/models/vi-shapes-tiny/. Rerun whenever the weights change (training/ship.py does).

    /usr/bin/python3 training/write_goldens.py [--model DIR] [--out training/golden]

Writes to training/golden/:
  text_encoder.safetensors + .json   input_ids [P, 16] I64, last_hidden_state [P, 16, 64] for the listed prompts
  unet_call.safetensors + .json      one dual-scope UNet forward on N = 40 frames with every exchange point
  render_48.safetensors + .json      a full reference render of 48 frames (6 steps, SDE-DPM++)
  render_48.png                      the same frames as a sheet, for people
  source.json                        which weights (sha256) the fixtures came from
(rng.json, the counter-based RNG cases, is written by training/rng.py: it does not depend on weights.)
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import package  # noqa: E402
import reference  # noqa: E402
import rng  # noqa: E402
from model import TemporalConvLayer, TransformerTemporalModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT_PROMPTS = ["", "a red circle bouncing on a blue background", "a white triangle moving left on a black background",
                "a yellow square orbiting on a gray background", "a green circle moving up on a blue background"]
UNET_CALL = {"frames": 40, "timestep": 999, "fps": 8, "p": 4, "top_k": 8, "t_phase": 800, "phase_bias": 1.0,
             "guidance": None, "seeds": [7, 8],  # sample[b] = rng.initial_latent(seeds[b], frames 0..39)
             "prompt_schedule": [[0, "a red circle moving right on a black background"],
                                 [20, "a blue square orbiting on a gray background"]]}
RENDER_48 = {"frames": 48, "seed": 1, "steps": 6, "guidance": 7.5, "sampler": "sde-dpm++", "eta": 0.0, "p": 4,
             "top_k": 8, "t_phase": 800, "phase_bias": 10.0, "fps": 8,
             "prompt_schedule": [[0, "a red circle moving right on a black background"],
                                 [24, "a yellow triangle bouncing on a blue background"]]}


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=1) + "\n")


def text_goldens(text_encoder, out):
    ids = data.tokenize(TEXT_PROMPTS)
    with torch.no_grad():
        hidden = text_encoder(ids)
    package.save_safetensors(os.path.join(out, "text_encoder.safetensors"),
                             {"input_ids": ids, "last_hidden_state": hidden})
    write_json(os.path.join(out, "text_encoder.json"), {"prompts": TEXT_PROMPTS, "max_length": data.MAX_LENGTH,
                                                        "tolerance_note": "float32; expect |diff| < 1e-5"})


def unet_call_goldens(unet, text_encoder, out):
    c = UNET_CALL
    n = c["frames"]
    sample = np.stack([rng.initial_latent(s, range(n)).transpose(1, 0, 2, 3) for s in c["seeds"]])  # (2, 48, N, 8, 8)
    schedule = [tuple(e) for e in c["prompt_schedule"]]
    ehs = reference.conditioning(text_encoder, schedule, n)  # (2·N, 16, 64), row b·N + f
    scope = reference.scope_for(n, c["timestep"], c["p"], c["top_k"], c["t_phase"], c["phase_bias"])
    tensors, points = {}, []
    heads = {m.ep_id: (m.transformer_blocks[0].attn1.heads, m.transformer_blocks[0].attn1.dim_head)
             for m in unet.modules() if isinstance(m, TransformerTemporalModel)}

    def tap(kind, ep_id, value):
        if kind == "stats":
            tensors[f"ep/{ep_id}/mean"], tensors[f"ep/{ep_id}/var"] = value
            points.append({"kind": "stats", "id": ep_id, "groups": int(value[0].shape[1])})
        elif kind == "halo":
            tensors[f"ep/{ep_id}"] = value.detach().clone()
            points.append({"kind": "halo", "id": ep_id, "width": 4, "shape": list(value.shape)})
        else:
            tensors[f"ep/{ep_id}"] = value.detach().clone()
            owner = ep_id.rsplit(".transformer_blocks", 1)[0]
            nh, hd = heads[owner]
            points.append({"kind": "attention", "id": ep_id, "heads": nh, "head_dim": hd, "halo": c["p"],
                           "shape": list(value.shape)})

    with torch.no_grad():
        x = torch.from_numpy(sample)
        t = torch.tensor([float(c["timestep"])] * 2)
        pred = unet(x, t, ehs, fps=c["fps"], scope=scope, tap=tap)
        plain = unet(x, t, ehs, fps=c["fps"], scope=scope)
    assert torch.equal(pred, plain), "taps changed the result"
    n_tconv = sum(isinstance(m, TemporalConvLayer) for m in unet.modules())
    n_ttrans = sum(isinstance(m, TransformerTemporalModel) for m in unet.modules())
    assert len(points) == n_tconv * 5 + n_ttrans * 3, (len(points), n_tconv, n_ttrans)
    tensors.update({"sample": x, "timestep": torch.tensor([c["timestep"]], dtype=torch.int64),
                    "fps": torch.tensor([c["fps"]], dtype=torch.int64), "encoder_hidden_states": ehs,
                    "global_frame_indices": scope.global_idx, "noise_pred": pred})
    package.save_safetensors(os.path.join(out, "unet_call.safetensors"), tensors)
    meta = dict(c, batch=["uncond", "cond"], uncond_prompt="", global_frame_indices=scope.global_idx.tolist(),
                layouts={"halo": "[B, C, F, H, W]", "attention": "[B*H*W, F, C_inner], B outermost, then H, W",
                         "stats": "mean, var [B, groups] float64, biased variance",
                         "sample/noise_pred": "[B, 48, F, 8, 8]", "encoder_hidden_states": "[B*F, 16, 64], row b*F + f"},
                exchange_points=points, tolerance="a clip's noise_pred within 1e-4 of noise_pred[:, :, start:end]")
    write_json(os.path.join(out, "unet_call.json"), meta)
    return len(points)


def render_goldens(unet, text_encoder, out):
    c = RENDER_48
    res = reference.render(unet, text_encoder, [tuple(e) for e in c["prompt_schedule"]], c["frames"], c["seed"],
                           c["steps"], c["guidance"], c["sampler"], c["eta"], c["p"], c["top_k"], c["t_phase"],
                           c["phase_bias"], c["fps"])
    package.save_safetensors(os.path.join(out, "render_48.safetensors"),
                             {"latents": res["latents"], "frames": res["frames"].astype(np.int64)})  # I64: the TS reader has no U8
    write_json(os.path.join(out, "render_48.json"),
               dict(c, timesteps=res["timesteps"], uncond_prompt="",
                    layouts={"latents": "[N, 48, 8, 8] float32, frame-major", "frames": "[N, 32, 32, 3] int64 RGB 0..255"},
                    noise="x_T: rng.initial_latent(seed, j); step s: rng normal(seed, PURPOSE_SAMPLER_NOISE, s, j, 3072)",
                    cfg="eps = uncond + guidance * (cond - uncond), float32"))
    reference.save_sheet(res["frames"], os.path.join(out, "render_48.png"), scale=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=reference.DEFAULT_MODEL)
    ap.add_argument("--out", default=os.path.join(HERE, "golden"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(a.out, exist_ok=True)
    unet, text_encoder, _ = package.load(a.model)
    with open(os.path.join(a.model, "manifest.json")) as f:
        weights_sha = f"{json.load(f)['files'][package.FILES['unet_weights']]['sha256']}"
    text_goldens(text_encoder, a.out)
    n_points = unet_call_goldens(unet, text_encoder, a.out)
    render_goldens(unet, text_encoder, a.out)
    write_json(os.path.join(a.out, "source.json"), {"writer": "python3 training/write_goldens.py",
                                                    "model": "public/models/vi-shapes-tiny",
                                                    "unet_weights_sha256": weights_sha})
    for name in sorted(os.listdir(a.out)):
        print(f"{name:32s} {os.path.getsize(os.path.join(a.out, name)):>10,d} bytes")
    print(f"{n_points} exchange points")


if __name__ == "__main__":
    main()
