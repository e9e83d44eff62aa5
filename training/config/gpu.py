# One GPU lease (an H100 for ~9 minutes): 16-frame clips in large batches, LR annealed to the deadline.
# On the device machine (or several variants side by side and scored: training/gpu_sweep.sh):
#   D=$(( $(date +%s) + 535 )); python3 training/train.py training/config/gpu.py --deadline=$D --export_dir=$OUT/run
# and here: cat ckpt.pt.part* > training/runs/vi-shapes-tiny/ckpt.pt; python3 training/ship.py --copy-checkpoint
curriculum = [(0, 16, 128)]  # 2048 frames per step: 15-21k frames/s on an H100 in bf16 (one process fills it)
lr = 5e-4
rewarm = 100  # the resumed optimizer state comes from a different batch regime
lr_decay = "cosine-deadline"
lr_min = 2e-5
ckpt_minutes = 1.5
threads = 4
log_every = 100
# high-noise emphasis, as for the last 5.6M frames of the shipped step 13462 (training/README.md)
t_high_frac = 0.7
x0_weight_floor = 1.0
