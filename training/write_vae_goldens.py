"""Goldens of the upstream VAE decoder (diffusers' AutoencoderKL) on a narrow random config, for the
compiler's parity test (src/model/compile/vae-parity.test.ts) and the engine's VAE decode test.

The one command (docs/real-model.md says where the diffusers v0.29.1 source comes from):

    PYTHONPATH=<diffusers v0.29.1>/src python3 training/write_vae_goldens.py --out training/golden/vae-narrow

It runs AutoencoderKL from its source; nothing of it is copied here. The narrow config has SD's
block types and 4 levels (so the decoder upsamples ×8, like VideoCrafter2's VAE), narrow widths, and
a scaling factor other than the default, so a compiler that ignored the config's value would fail.
Weights come from training/seeded_weights.py (regenerated bit for bit by the TypeScript test), so
only the config, the key list, the latents and the outputs are written: <out>/vae_decode.safetensors
and <out>/vae_decode.json.

What is compared is what a text-to-video pipeline does with its final latents (diffusers'
TextToVideoSDPipeline.decode_latents, then VaeImageProcessor.postprocess):
    sample = vae.decode(1 / scaling_factor * latents).sample         [N, 3, 8h, 8w], about [-1, 1]
    rgb    = round(clamp(sample / 2 + 0.5, 0, 1) * 255)              bytes, float32, ties to even
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeded_weights import seeded_tensor  # noqa: E402

WEIGHT_SEED = 16
INPUT_SEED = 1016
NARROW = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[8, 16, 16, 16],  # reversed in the decoder: the last up block goes 16 -> 8 (a conv_shortcut)
    layers_per_block=1,
    act_fn="silu",
    latent_channels=4,
    norm_num_groups=4,
    sample_size=32,
    scaling_factor=0.13025,
)
FRAMES = 3  # decoded as one batch of frames, as the engine does
HEIGHT, WIDTH = 4, 6  # latent; non-square, decoded to 32 x 48


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import diffusers
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from package import save_safetensors  # the team's writer (no safetensors package needed)

    torch.manual_seed(0)  # nothing below draws from torch's global RNG
    vae = AutoencoderKL(**NARROW).eval()
    config = json.loads(vae.to_json_string())  # exactly what save_pretrained writes as config.json
    state = vae.state_dict()
    keys = [[k, list(v.shape)] for k, v in state.items()]
    vae.load_state_dict({k: torch.from_numpy(seeded_tensor(WEIGHT_SEED, k, list(v.shape))) for k, v in state.items()}, strict=True)

    g = torch.Generator().manual_seed(INPUT_SEED)
    latents = torch.randn(FRAMES, NARROW["latent_channels"], HEIGHT, WIDTH, generator=g)
    with torch.no_grad():
        sample = vae.decode(1 / vae.config.scaling_factor * latents).sample
    rgb = (sample / 2 + 0.5).clamp(0, 1).mul(255).round()
    print(f"sample {list(sample.shape)}, range [{sample.min().item():.3f}, {sample.max().item():.3f}]; "
          f"processor {type(vae.decoder.mid_block.attentions[0].processor).__name__}")

    os.makedirs(args.out, exist_ok=True)
    tensors = {"latents": latents, "sample": sample, "rgb": rgb}
    save_safetensors(os.path.join(args.out, "vae_decode.safetensors"), {k: v.contiguous().float() for k, v in tensors.items()})
    meta = {
        "source": {"diffusers": diffusers.__version__, "torch": torch.__version__},
        "vae_config": config,
        "weight_seed": WEIGHT_SEED,
        "frames": FRAMES, "height": HEIGHT, "width": WIDTH,
        "weights": keys,
    }
    head = json.dumps({k: v for k, v in meta.items() if k != "weights"}, indent=1)
    rows = ",\n".join("  " + json.dumps(w) for w in meta["weights"])
    with open(os.path.join(args.out, "vae_decode.json"), "w") as f:
        f.write(head[:-2] + ',\n "weights": [\n' + rows + "\n ]\n}\n")
    n_params = sum(int(v.numel()) for v in state.values())
    print(f"wrote {args.out}: {len(keys)} weights ({n_params} parameters), diffusers {diffusers.__version__}")


if __name__ == "__main__":
    main()
