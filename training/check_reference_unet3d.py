"""Checks the team's PyTorch reference (training/model.py) against the upstream goldens of
write_unet3d_goldens.py: same config, same seeded weights, same inputs, full temporal attention.
Needs only torch (no upstream source):

    python3 training/check_reference_unet3d.py [--golden training/golden/unet3d-narrow]

training/model.py builds the spatial transformers' proj_in/proj_out as 1x1 convs [o, i, 1, 1];
upstream diffusers' UNet3DConditionModel as Linear [o, i] (same map), so those are viewed as convs.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import UNet3DConditionModel, UNetConfig  # noqa: E402
from package import load_safetensors  # noqa: E402
from seeded_weights import seeded_tensor  # noqa: E402

TOL = 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "unet3d-narrow"))
    args = ap.parse_args()
    meta = json.load(open(os.path.join(args.golden, "unet_calls.json")))
    fx = load_safetensors(os.path.join(args.golden, "unet_calls.safetensors"))
    up = meta["unet_config"]
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in up.items() if k in UNetConfig.__dataclass_fields__}
    cfg = UNetConfig(**{**fields, "fps_conditioning": bool(up.get("fps_cond", up.get("_class_name") == "UNetVideoCrafter"))})
    unet = UNet3DConditionModel(cfg).eval()
    own = unet.state_dict()
    state = {}
    for name, shape in meta["weights"]:
        w = torch.from_numpy(seeded_tensor(meta["weight_seed"], name, shape))
        state[name] = w.reshape(own[name].shape) if name in own and own[name].numel() == w.numel() else w
    unet.load_state_dict(state, strict=True)
    sample = torch.from_numpy(fx["sample"].copy())
    ehs = torch.from_numpy(fx["encoder_hidden_states"].copy())
    worst = 0.0
    with torch.no_grad():
        for call in meta["calls"]:
            out = unet(sample, call["timestep"], ehs, fps=meta["fps"])
            diff = (out - torch.from_numpy(fx[call["output"]].copy())).abs().max().item()
            worst = max(worst, diff)
            print(f"training/model.py vs upstream diffusers {meta['source']['diffusers']}, t={call['timestep']:g} ({call['phase']}): max abs diff {diff:.2e}")
    if worst > TOL:
        raise SystemExit(f"FAIL: {worst:.2e} > {TOL}")
    print("ok")


if __name__ == "__main__":
    main()
