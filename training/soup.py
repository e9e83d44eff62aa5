"""Average the EMA weights of two checkpoints of one training lineage (a "model soup", as WiSE-FT does
for a fine-tuned model and its parent) into a resumable checkpoint.

    /usr/bin/python3 training/soup.py A.pt B.pt ALPHA OUT.pt     # weights = ALPHA·A + (1 − ALPHA)·B

Why: the shipped step-21131 soup. The direction-contrast run (B, motion 93%, shape 52%) and its
plain-loss polish (A, motion 72%, shape 92%) each miss one side; 0.7·A + 0.3·B keeps most of both
(training/README.md). Checkpoints from different runs (e.g. step 13462 and B) do not mix: both
measures fell. OUT keeps A's optimizer state, RNG, step and config, so train.py resumes from it; the
model and its EMA both hold the average, and `soup` records what was mixed (ship.py puts it in the
package's manifest info).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import package  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    a_path, b_path, alpha, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    assert 0.0 <= alpha <= 1.0, f"ALPHA must be in [0, 1], got {alpha}"
    a, b = (package.expand_checkpoint(torch.load(p)) for p in (a_path, b_path))
    assert a["config"] == b["config"], "the two checkpoints have different model configs"

    def mix(x, y):
        assert x.keys() == y.keys(), "the two checkpoints have different parameters"
        return {k: alpha * x[k] + (1 - alpha) * y[k] for k in x}

    unet, text = mix(a["ema_unet"], b["ema_unet"]), mix(a["ema_text_encoder"], b["ema_text_encoder"])
    ck = {**a, "unet": unet, "text_encoder": text, "ema_unet": unet, "ema_text_encoder": text,
          "soup": {"a_step": a["step"], "b_step": b["step"], "alpha": alpha}}
    torch.save(package.compact_checkpoint(ck), out)
    print(f"{out}: {alpha} x step {a['step']} + {1 - alpha:g} x step {b['step']}")


if __name__ == "__main__":
    main()
