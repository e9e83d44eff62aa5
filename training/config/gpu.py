# One GPU lease (an H100 for ~9 minutes): 16-frame clips in large batches, LR annealed to the deadline.
# Used for the shipped step 10591 (see training/README.md). On the device machine:
#   D=$(( $(date +%s) + 535 )); python3 training/train.py training/config/gpu.py --deadline=$D --export_dir=$OUT/run
# and here: cat ckpt.pt.part* > training/runs/vi-shapes-tiny/ckpt.pt; python3 training/ship.py --copy-checkpoint
curriculum = [(0, 16, 128)]  # 2048 frames per step: 15-21k frames/s on an H100 in bf16
lr = 1e-3
rewarm = 200  # the resumed optimizer state comes from a different batch regime
lr_decay = "cosine-deadline"
lr_min = 2e-5
ckpt_minutes = 1.5
threads = 4
log_every = 100
