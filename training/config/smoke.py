# A quick check that training runs, saves and resumes: run it twice.
name = "smoke"
init_from = ""
curriculum = [(0, 1, 8), (6, 4, 4), (12, 16, 2)]
max_steps = 15
log_every = 5
ckpt_minutes = 0.0
