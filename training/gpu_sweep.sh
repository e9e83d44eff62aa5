#!/bin/bash
# Train several loss variants side by side on one GPU lease, score each, export the best.
#   on the device machine:  bash training/gpu_sweep.sh <train seconds> v0 v1 v2
# Each variant resumes from training/runs/<name>/ckpt.pt, else from the committed checkpoint; a second
# call on the same warm machine continues the named ones. The processes share the GPU: one already
# fills an H100 (~20k frames/s; four ran at ~5.1k each), so n variants get 1/n of the frames each.
# What comes back ($OUT): the best variant's compact checkpoint in parts, its evaluation sheet, every
# other variant's EMA weights (ema_<v>.pt, ~10 MB: package.load_checkpoint reads it) and a summary with
# every log and score.
# Here: cat ckpt.pt.part* > training/runs/vi-shapes-tiny/ckpt.pt; python3 training/ship.py --copy-checkpoint
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/sweep_out}
mkdir -p "$OUT"
train_s=$1; shift
# every variant names all objective keys, so that it does not depend on what config/gpu.py sets
declare -A ARGS=(
  [v0]="--t_high_frac=0 --x0_weight_floor=0 --frame_t_frac=0 --direction_contrast=0"      # one t per clip, plain min-SNR (steps 4206-10591)
  [v1]="--t_high_frac=0.5 --x0_weight_floor=0 --frame_t_frac=0 --direction_contrast=0"    # half the clips at t in [700, 1000)
  [v2]="--t_high_frac=0.5 --x0_weight_floor=0.1 --frame_t_frac=0 --direction_contrast=0"  # ... and x0 errors weigh at least 0.1
  [v3]="--t_high_frac=0.5 --x0_weight_floor=0.3 --frame_t_frac=0 --direction_contrast=0"
  [v4]="--t_high_frac=0.7 --x0_weight_floor=1.0 --frame_t_frac=0 --direction_contrast=0"  # the shipped step 13462's last 240 s
  [v5]="--t_high_frac=0.7 --x0_weight_floor=1.0 --frame_t_frac=0.5 --direction_contrast=0" # + anchor-frame clips (not yet run on a GPU)
  [v6]="--t_high_frac=0.7 --x0_weight_floor=1.0 --frame_t_frac=0.5 --direction_contrast=10" # + the direction-contrast hinge: the denoiser uses the word, sampling does not (motion 32%)
  [v7]="--t_high_frac=0.7 --x0_weight_floor=1.0 --frame_t_frac=0.5 --direction_contrast=30"
  [v8]="--t_high_frac=0.7 --t_high_from=850 --x0_weight_floor=1.0 --frame_t_frac=0.5 --direction_contrast=10" # v6 with the high-noise clips where the path is decided (t >= 850): motion 46-49% after 1.7-2.3M frames from v6
  [v9]="--t_high_frac=0.5 --t_high_from=850 --x0_weight_floor=1.0 --frame_t_frac=0.5 --direction_contrast=10" # v8 with more clips at any t, to hold shape (not yet run)
  [v10]="--t_high_frac=0.5 --t_high_from=850 --x0_weight_floor=1.0 --frame_t_frac=0.5 --direction_contrast=10 --contrast_motion=any" # v9 contrasted with any other motion word: v8 learned the sign, not the axis
  [v11]="--t_high_frac=0.7 --t_high_from=850 --x0_weight_floor=1.0 --frame_t_frac=0.5 --direction_contrast=10 --contrast_motion=any" # v8 contrasted with any other motion word
)
deadline=$(( $(date +%s) + train_s ))
for v in "$@"; do
  ${PY:-python3} training/train.py training/config/gpu.py --name=$v --deadline=$deadline --lr=5e-4 --rewarm=100 \
    --ckpt_minutes=1000 ${ARGS[$v]} ${EXTRA:-} > /tmp/$v.out 2>&1 &
done
sleep 45; nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv,noheader
wait
for v in "$@"; do
  ${PY:-python3} training/evaluate.py --ckpt training/runs/$v/ckpt.pt --device ${EVAL_DEVICE:-cuda} --no-long --n ${EVAL_N:-120} --batch 40 \
    --threads 4 --out /tmp/eval_$v > /tmp/eval_$v.out 2>&1 &
done
wait
for v in "$@"; do  # the stochastic sampler too (it re-draws noise, so the word gets more than one chance)
  ${PY:-python3} training/evaluate.py --ckpt training/runs/$v/ckpt.pt --device ${EVAL_DEVICE:-cuda} --no-long --n ${EVAL_N:-120} --batch 40 \
    --threads 4 --sampler sde-dpm++ --out /tmp/eval_sde_$v > /tmp/eval_sde_$v.out 2>&1
done
{
  for v in "$@"; do echo "== $v ${ARGS[$v]}"; cat training/runs/$v/log.txt | tail -n 40; tail -n 3 /tmp/eval_$v.out
    cat /tmp/eval_$v/scores.json; echo; echo "sde-dpm++: $(grep -h "clips in" /tmp/eval_sde_$v.out)"; done
} > "$OUT/summary.txt"
for v in "$@"; do echo "$v: $(grep -h "clips in" /tmp/eval_$v.out)"; done
${PY:-python3} - "$OUT" "$@" <<'PY'
import json, os, shutil, sys, torch
sys.path.insert(0, "training")
import package
out, names = sys.argv[1], sys.argv[2:]
def score(v):  # motion first, then the sum of all accuracies
    acc = json.load(open(f"/tmp/eval_{v}/scores.json"))["accuracy"]
    return acc["motion"], sum(acc.values())
best = max(names, key=score)
print("best", best, score(best))
os.makedirs("/tmp/sweep_best", exist_ok=True)
torch.save(package.compact_checkpoint(torch.load(f"training/runs/{best}/ckpt.pt")), "/tmp/sweep_best/ckpt.pt")
package.write_parts("/tmp/sweep_best/ckpt.pt", out)
shutil.copy(f"/tmp/eval_{best}/sheet.png", f"{out}/sheet_{best}.png")
for v in names:  # the others' EMA weights; the model dicts share the EMA tensors, so they are stored once
    if v == best:
        continue
    ck = package.expand_checkpoint(torch.load(f"training/runs/{v}/ckpt.pt"))
    torch.save({"unet": ck["ema_unet"], "text_encoder": ck["ema_text_encoder"], "ema_unet": ck["ema_unet"],
                "ema_text_encoder": ck["ema_text_encoder"],
                **{k: ck[k] for k in ("step", "frames_seen", "clips_seen", "config")}}, f"{out}/ema_{v}.pt")
open(f"{out}/summary.txt", "a").write(f"best {best} {score(best)}\n")
PY
