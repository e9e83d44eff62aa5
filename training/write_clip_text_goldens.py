"""Goldens of transformers' CLIPTextModel on a narrow OpenCLIP-H-shaped config, for the text encoder's
parity test (src/model/compile/clip-text-parity.test.ts).

    PYTHONPATH=<transformers>/src python3 training/write_clip_text_goldens.py --out training/golden/clip-text-narrow

OpenCLIP ViT-H as diffusers ports publish it (SD 2.x, ModelScope, ZeroScope): CLIPTextModel layout,
hidden_act "gelu" (exact erf), 77 positions; here 64 wide, 3 layers, 4 heads, and the vocabulary of the
committed test tokenizer (training/golden/clip-tokenizer/tokenizer, 3514 entries). The input ids come
from transformers' CLIPTokenizer on that tokenizer with OpenCLIP's "!" padding, for the CFG uncond
prompt "", a short prompt and one past 77 tokens. The output is what diffusers' encode_prompt takes
without clip_skip: last_hidden_state (after final_layer_norm).

Weights come from training/seeded_weights.py (the TypeScript twin regenerates them), so only the
config, the key list, the ids and the outputs are written: <out>/text_calls.json and
<out>/text_calls.safetensors.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeded_weights import seeded_tensor  # noqa: E402

WEIGHT_SEED = 16
TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "clip-tokenizer", "tokenizer")
# The published config's keys (SD 2.x text_encoder/config.json), narrowed.
NARROW = dict(
    architectures=["CLIPTextModel"],
    attention_dropout=0.0,
    bos_token_id=0,
    dropout=0.0,
    eos_token_id=2,
    hidden_act="gelu",
    hidden_size=64,
    initializer_factor=1.0,
    initializer_range=0.02,
    intermediate_size=256,
    layer_norm_eps=1e-05,
    max_position_embeddings=77,
    model_type="clip_text_model",
    num_attention_heads=4,
    num_hidden_layers=3,
    pad_token_id=1,
    projection_dim=512,
    torch_dtype="float32",
    vocab_size=3514,
)
PROMPTS = [
    "",
    "A beagle wearing diving goggles swimming in the ocean, coral reefs in the background!",
    " ".join(["a cinematic drone shot of snowy mountains at golden hour, 4k, highly detailed"] * 8),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import transformers
    from package import save_safetensors  # the team's writer (no safetensors package needed)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok = CLIPTokenizer(os.path.join(TOKENIZER, "vocab.json"), os.path.join(TOKENIZER, "merges.txt"), pad_token="!", model_max_length=77)
    ids = torch.tensor([tok(p, padding="max_length", max_length=77, truncation=True)["input_ids"] for p in PROMPTS])
    assert int(ids.max()) < NARROW["vocab_size"]

    cfg = {k: v for k, v in NARROW.items() if k not in ("architectures", "model_type", "torch_dtype")}
    model = CLIPTextModel(CLIPTextConfig(**cfg)).eval()
    state = model.state_dict()
    keys = [[k, list(v.shape)] for k, v in state.items()]
    model.load_state_dict({k: torch.from_numpy(seeded_tensor(WEIGHT_SEED, k, list(v.shape))) for k, v in state.items()}, strict=True)
    with torch.no_grad():
        out = model(ids).last_hidden_state
    print(f"last_hidden_state {list(out.shape)}, |x| max {out.abs().max().item():.3f}")

    os.makedirs(args.out, exist_ok=True)
    save_safetensors(os.path.join(args.out, "text_calls.safetensors"), {"input_ids": ids.to(torch.int64), "last_hidden_state": out.contiguous().float()})
    meta = {
        "source": {"transformers": getattr(transformers, "__version__", "?"), "torch": torch.__version__},
        "text_config": NARROW,
        "weight_seed": WEIGHT_SEED,
        "prompts": PROMPTS,
        "weights": keys,
    }
    with open(os.path.join(args.out, "text_calls.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(keys)} weights, {len(PROMPTS)} prompts")


if __name__ == "__main__":
    main()
