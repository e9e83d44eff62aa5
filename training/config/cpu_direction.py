# CPU experiment (no device lease): the direction-contrast hinge on anchor-frame clips, from the shipped
# step. Is the direction word learned any faster when its pathway gets a gradient of its own?
#   nohup nice -n 10 /usr/bin/python3 training/train.py training/config/cpu_direction.py > /dev/null 2>&1 &
#   /usr/bin/python3 training/motion_probe.py --ckpt training/runs/cpu-direction/ckpt.pt
name = "cpu-direction"
curriculum = [(0, 16, 4)]
lr = 3e-4
rewarm = 50
t_high_frac = 0.7
x0_weight_floor = 1.0
frame_t_frac = 0.5
direction_contrast = 1.0
log_every = 20
ckpt_minutes = 10.0
