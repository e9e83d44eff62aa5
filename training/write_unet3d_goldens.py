"""Goldens of the upstream UNet3D (diffusers' UNet3DConditionModel + Video-Infinity's fps subclass) on a
narrow VideoCrafter2-shaped config, for the compiler's parity test (src/model/compile/unet3d-parity.test.ts).

The one command (docs/real-model.md says where the two source trees come from):

    PYTHONPATH=<diffusers v0.29.1>/src:<Video-Infinity> python3 training/write_unet3d_goldens.py \
        --out training/golden/unet3d-narrow

It runs the upstream classes from their source; nothing of them is copied here:
- `UNetVideoCrafter` is taken from Video-Infinity's src/video_crafter.py as written (only that class is
  executed, so the pipeline's transformers/VAE imports are not needed);
- the fps embedding is added after `time_embedding.linear_2` through `time_embedding.post_act`, the
  hook that Video-Infinity's `VideoCrafterPipeline.__call__` installs (re-stated in `fps_hook`).

Weights come from training/seeded_weights.py (regenerated bit for bit by the TypeScript test), so
only the config, the key list, the inputs and the outputs are written: <out>/unet_calls.safetensors
and <out>/unet_calls.json.
"""
import argparse
import ast
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeded_weights import seeded_tensor  # noqa: E402

WEIGHT_SEED = 15
INPUT_SEED = 1015
# A narrow VideoCrafter2: its block types, 4 levels, 2 layers per block, 1024-d text, fps; widths cut
# so that the goldens stay small (groups 4, head arg 8: 2/4/4 heads of 8 channels).
NARROW = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    down_block_types=["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"],
    up_block_types=["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"],
    block_out_channels=[16, 32, 32, 32],
    layers_per_block=2,
    downsample_padding=1,
    mid_block_scale_factor=1,
    act_fn="silu",
    norm_num_groups=4,
    norm_eps=1e-5,
    cross_attention_dim=1024,
    attention_head_dim=8,
    num_attention_heads=None,
)
FRAMES = 13  # splits into 1, 2 and 3 clips of at least 4 frames (the temporal conv halo)
HEIGHT, WIDTH = 8, 16  # non-square, like VC2's 40x64 latent: 8x16 -> 4x8 -> 2x4 -> 1x2
TEXT_TOKENS = 4
FPS = 24.0  # Video-Infinity's fps condition
TIMESTEPS = [("global", 900.0), ("local", 500.0)]  # either side of T_phase = 800


def load_unet_videocrafter(path):
    """The UNetVideoCrafter class of Video-Infinity's src/video_crafter.py, executed as written."""
    from diffusers.configuration_utils import register_to_config
    from diffusers.models import UNet3DConditionModel
    from diffusers.models.embeddings import TimestepEmbedding, Timesteps

    tree = ast.parse(open(path).read(), path)
    cls = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "UNetVideoCrafter"]
    if not cls:
        raise SystemExit(f"{path}: no class UNetVideoCrafter")
    ns = dict(UNet3DConditionModel=UNet3DConditionModel, register_to_config=register_to_config,
              TimestepEmbedding=TimestepEmbedding, Timesteps=Timesteps, torch=torch)
    exec(compile(ast.Module(body=cls, type_ignores=[]), path, "exec"), ns)
    return ns["UNetVideoCrafter"]


def fps_hook(unet, fps):
    """VideoCrafterPipeline.__call__'s post_function: time embedding (after linear_2) + fps embedding."""
    def post_act(sample):
        f = torch.tensor([fps], dtype=torch.float64)
        fps_emb = unet.fps_embedding(unet.fps_proj(f).to(dtype=unet.dtype)).repeat_interleave(repeats=sample.shape[0], dim=0)
        return sample + fps_emb
    return post_act


def find_video_crafter():
    for p in sys.path:
        cand = os.path.join(p, "src", "video_crafter.py")
        if os.path.isfile(cand):
            return cand
    raise SystemExit("Video-Infinity's src/video_crafter.py is not on PYTHONPATH (add the repository root)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import diffusers
    from package import save_safetensors  # the team's writer (no safetensors package needed)

    torch.manual_seed(0)  # nothing below draws from torch's RNG; set anyway so a future draw is reproducible
    vc_path = find_video_crafter()
    UNetVideoCrafter = load_unet_videocrafter(vc_path)
    unet = UNetVideoCrafter(**NARROW, fps_cond=True).eval()
    config = json.loads(unet.to_json_string())  # exactly what save_pretrained writes as config.json
    config["_class_name"] = "UNetVideoCrafter"

    state = unet.state_dict()
    keys = [[k, list(v.shape)] for k, v in state.items()]
    unet.load_state_dict({k: torch.from_numpy(seeded_tensor(WEIGHT_SEED, k, list(v.shape))) for k, v in state.items()}, strict=True)
    unet.time_embedding.post_act = fps_hook(unet, FPS)

    g = torch.Generator().manual_seed(INPUT_SEED)
    sample = torch.randn(2, NARROW["in_channels"], FRAMES, HEIGHT, WIDTH, generator=g)
    ehs = torch.randn(2, TEXT_TOKENS, NARROW["cross_attention_dim"], generator=g)
    tensors = {"sample": sample, "encoder_hidden_states": ehs}
    calls = []
    with torch.no_grad():
        for phase, t in TIMESTEPS:
            out = unet(sample, torch.tensor([t]), encoder_hidden_states=ehs).sample
            tensors[f"noise_pred/{phase}"] = out
            calls.append({"phase": phase, "timestep": t, "output": f"noise_pred/{phase}"})
            print(f"t={t:g} ({phase}): noise_pred {list(out.shape)}, |x| max {out.abs().max().item():.3f}")

    os.makedirs(args.out, exist_ok=True)
    save_safetensors(os.path.join(args.out, "unet_calls.safetensors"), {k: v.contiguous().float() for k, v in tensors.items()})
    meta = {
        "source": {
            "diffusers": diffusers.__version__,
            "video_infinity": "Yuanshi9815/Video-Infinity src/video_crafter.py (UNetVideoCrafter)",
            "torch": torch.__version__,
        },
        "unet_config": config,
        "weight_seed": WEIGHT_SEED,
        "weights": keys,
        "frames": FRAMES, "height": HEIGHT, "width": WIDTH, "text_tokens": TEXT_TOKENS, "fps": FPS,
        "calls": calls,
    }
    # One line per weight keeps the key list readable in review (and the file small).
    head = json.dumps({k: v for k, v in meta.items() if k != "weights"}, indent=1)
    rows = ",\n".join("  " + json.dumps(w) for w in meta["weights"])
    with open(os.path.join(args.out, "unet_calls.json"), "w") as f:
        f.write(head[:-2] + ',\n "weights": [\n' + rows + "\n ]\n}\n")
    print(f"wrote {args.out}: {len(keys)} weights ({sum(int(torch.tensor(s).prod()) for _, s in keys)} parameters), diffusers {diffusers.__version__}")


if __name__ == "__main__":
    main()
