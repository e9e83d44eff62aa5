"""Ship a training checkpoint: export its EMA weights as the embedded model package AND rewrite the
golden fixtures from that package, so weights and goldens never disagree.

    /usr/bin/python3 training/ship.py [--ckpt training/runs/vi-shapes-tiny/ckpt.pt] [--copy-checkpoint]

1. EMA weights -> public/models/vi-shapes-tiny/ (safetensors + configs + tokenizer + manifest with sha256)
2. `npm run compile-model` on it: the ONNX graph and segments, added to the manifest (export rewrites
   manifest.json, so the compiler must run after it; needs `npm ci` done)
3. training/write_goldens.py on the exported package -> training/golden/
4. with --copy-checkpoint: a compact resumable checkpoint (model F32, EMA as F16 delta, Adam second
   moment BF16, step, RNG) -> training/checkpoints/ckpt.pt, which train.py resumes from in a fresh clone
Then run `training/evaluate.py` and commit the package, goldens, eval and checkpoint together.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import package  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "runs", "vi-shapes-tiny", "ckpt.pt"))
    ap.add_argument("--out", default=os.path.join(ROOT, "public", "models", "vi-shapes-tiny"))
    ap.add_argument("--copy-checkpoint", action="store_true")
    ap.add_argument("--golden-out", default=os.path.join(HERE, "golden"))
    ap.add_argument("--skip-goldens", action="store_true")
    ap.add_argument("--skip-compile", action="store_true")
    a = ap.parse_args()

    # copy first: the run may overwrite its checkpoint while we work
    snapshot = "/tmp/ship_ckpt.pt"
    shutil.copyfile(a.ckpt, snapshot)
    unet, text, ck = package.load_checkpoint(snapshot)
    if a.copy_checkpoint:  # compact (EMA as an F16 delta, Adam second moment BF16) to stay under 25 MB
        committed = os.path.join(HERE, "checkpoints", "ckpt.pt")
        os.makedirs(os.path.dirname(committed), exist_ok=True)
        torch.save(package.compact_checkpoint(torch.load(snapshot)), committed)
    info = {"source": "training/soup.py average of two training/train.py EMA weights" if "soup" in ck
            else "training/train.py EMA weights", "step": ck["step"], "frames_seen": ck["frames_seen"],
            "clips_seen": ck["clips_seen"], "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "unet_params": sum(p.numel() for p in unet.parameters()),
            "text_encoder_params": sum(p.numel() for p in text.parameters()),
            **({"soup": ck["soup"]} if "soup" in ck else {})}  # training/soup.py: which two steps, in what ratio
    manifest = package.export(a.out, unet.state_dict(), text.state_dict(), unet.config, text.config,
                              data.tokenizer_json(), info)
    total = sum(e["bytes"] for e in manifest["files"].values())
    print(f"exported step {ck['step']} ({ck['frames_seen']:,} frames) to {a.out}: {total:,} bytes")

    # the exported package must reproduce the checkpoint's EMA model exactly
    u2, t2, _ = package.load(a.out)
    x = torch.randn(2, 48, 4, 8, 8)
    with torch.no_grad():
        ids = data.tokenize(["", "a red circle bouncing on a blue background"])
        assert torch.equal(unet(x, 500, text(ids)), u2(x, 500, t2(ids))), "exported package differs from checkpoint"

    if not a.skip_compile:
        subprocess.run(["npm", "run", "--silent", "compile-model", "--", a.out], cwd=ROOT, check=True)
    if not a.skip_goldens:
        subprocess.run([sys.executable, os.path.join(HERE, "write_goldens.py"), "--model", a.out,
                        "--out", a.golden_out], check=True)
    if a.copy_checkpoint:
        print(f"resumable checkpoint: {committed} ({os.path.getsize(committed):,} bytes)")


if __name__ == "__main__":
    main()
