"""The model package on disk (public/models/vi-shapes-tiny/) and a minimal safetensors reader/writer.

    vi-shapes-tiny/
      manifest.json                               files with sha256 and bytes; render defaults
      unet/config.json                            diffusers UNet3DConditionModel config (+ fps_conditioning)
      unet/diffusion_pytorch_model.safetensors    F32, diffusers parameter names
      text_encoder/config.json                    transformers CLIPTextConfig keys
      text_encoder/model.safetensors              F32, CLIPTextModel parameter names
      tokenizer.json                              word-level tokenizer (docs/model-architecture.md §4)
      scheduler/scheduler_config.json             scaled-linear betas, epsilon

safetensors (https://github.com/huggingface/safetensors): 8-byte little-endian header length, a JSON
header {name: {dtype, shape, data_offsets}} padded with spaces to a multiple of 8, then the raw
little-endian tensors. Written here by hand because Debian has no python3-safetensors.
"""
import hashlib
import json
import os
import struct

import numpy as np
import torch

from model import CLIPTextModel, TextConfig, UNet3DConditionModel, UNetConfig

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "U8": np.uint8, "I32": np.int32}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}

FILES = {
    "unet_config": "unet/config.json",
    "unet_weights": "unet/diffusion_pytorch_model.safetensors",
    "text_config": "text_encoder/config.json",
    "text_weights": "text_encoder/model.safetensors",
    "tokenizer": "tokenizer.json",
    "scheduler": "scheduler/scheduler_config.json",
}
SCHEDULER_CONFIG = {"_class_name": "DPMSolverMultistepScheduler", "num_train_timesteps": 1000,
                    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                    "prediction_type": "epsilon"}
# What a render uses unless the job says otherwise (docs/model-architecture.md §3-§4).
RENDER_DEFAULTS = {"fps": 8, "native_frames": 16, "local_window_p": 4, "global_top_k": 8, "phase_t": 800,
                   "phase_bias": 10.0, "guidance": 7.5, "steps": 25, "sampler": "dpm++",
                   "uncond_prompt": "", "decode": "pixel_shuffle(latent, 4); rgb = round(clamp((x + 1) / 2, 0, 1) * 255)"}


def save_safetensors(path, tensors, metadata=None):
    """tensors: {name: np.ndarray or torch.Tensor}, written in sorted name order."""
    arrays = {k: (v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)) for k, v in tensors.items()}
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        assert a.dtype in _NAMES, f"{k}: dtype {a.dtype} not supported"
        arrays[k] = a
        header[k] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for k in sorted(arrays):
            f.write(arrays[k].astype(arrays[k].dtype.newbyteorder("<"), copy=False).tobytes())


def load_safetensors(path):
    """-> {name: np.ndarray} (metadata dropped)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8: 8 + n])
    body = raw[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(body[a:b], dtype=np.dtype(_DTYPES[v["dtype"]]).newbyteorder("<")).reshape(v["shape"])
    return out


def write_parts(path, out_dir, part_bytes=15_000_000):
    """Copy a file into out_dir as <name>.part0, .part1, … of at most part_bytes each (a device's $OUT
    takes files of at most 16 MiB); each part appears atomically. Join with: cat <name>.part* > <name>."""
    os.makedirs(out_dir, exist_ok=True)
    name, blob = os.path.basename(path), open(path, "rb").read()
    for i in range(0, len(blob), part_bytes):
        part = os.path.join(out_dir, f"{name}.part{i // part_bytes}")
        with open(part + ".tmp", "wb") as f:
            f.write(blob[i:i + part_bytes])
        os.replace(part + ".tmp", part)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def export(out_dir, unet_sd, text_sd, unet_cfg: UNetConfig, text_cfg: TextConfig, tokenizer, info):
    """Write the package; returns the manifest dict. State dicts hold the (EMA) weights."""
    for sub in ("unet", "text_encoder", "scheduler"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    path = lambda key: os.path.join(out_dir, FILES[key])
    dump = lambda key, obj: open(path(key), "w").write(json.dumps(obj, indent=2) + "\n")
    dump("unet_config", unet_cfg.to_json())
    dump("text_config", text_cfg.to_json())
    dump("tokenizer", tokenizer)
    dump("scheduler", SCHEDULER_CONFIG)
    f32 = lambda sd: {k: v.float() for k, v in sd.items()}
    save_safetensors(path("unet_weights"), f32(unet_sd), {"format": "pt"})
    save_safetensors(path("text_weights"), f32(text_sd), {"format": "pt"})
    manifest = {"name": "vi-shapes-tiny", "format": 1, "info": info, "defaults": RENDER_DEFAULTS,
                "files": {FILES[k]: {"sha256": sha256(path(k)), "bytes": os.path.getsize(path(k))}
                          for k in FILES}}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load(model_dir, check=True):
    """-> (unet, text_encoder, tokenizer dict), eval mode, sha256 checked against the manifest."""
    with open(os.path.join(model_dir, "manifest.json")) as f:
        manifest = json.load(f)
    if check:
        for name, entry in manifest["files"].items():
            got = sha256(os.path.join(model_dir, name))
            assert got == entry["sha256"], f"{name}: sha256 {got} != manifest {entry['sha256']}"
    read = lambda key: json.load(open(os.path.join(model_dir, FILES[key])))
    ucfg = {k: v for k, v in read("unet_config").items() if not k.startswith("_")}
    ucfg = UNetConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in ucfg.items()})
    tcfg = {k: v for k, v in read("text_config").items() if k not in ("architectures", "model_type")}
    unet, text = UNet3DConditionModel(ucfg), CLIPTextModel(TextConfig(**tcfg))
    for module, key in ((unet, "unet_weights"), (text, "text_weights")):
        sd = {k: torch.from_numpy(v.copy()) for k, v in load_safetensors(os.path.join(model_dir, FILES[key])).items()}
        module.load_state_dict(sd, strict=True)  # every key consumed exactly once, every shape checked
        module.eval()
    return unet, text, read("tokenizer")


def compact_checkpoint(ck):
    """A smaller resumable copy for git: model F32, EMA as an F16 difference from the model (small, so
    F16 keeps it to ~1e-3 of the difference), Adam's second moment in BF16, first moment dropped
    (it rebuilds in ~10 steps). 2.5M params -> ~20 MB instead of 40 MB. A compact one passes through
    (a device run exports compact checkpoints)."""
    if ck.get("format") == "compact-1":
        return ck
    params = [*(("unet", k) for k in ck["unet"]), *(("text_encoder", k) for k in ck["text_encoder"])]
    opt = ck["optimizer"]
    assert len(opt["state"]) in (0, len(params)), "optimizer state does not match the parameters"
    return {"format": "compact-1", "unet": ck["unet"], "text_encoder": ck["text_encoder"],
            "ema_delta_unet": {k: (v - ck["unet"][k]).half() for k, v in ck["ema_unet"].items()},
            "ema_delta_text_encoder": {k: (v - ck["text_encoder"][k]).half() for k, v in ck["ema_text_encoder"].items()},
            "exp_avg_sq": [opt["state"][i]["exp_avg_sq"].bfloat16() for i in range(len(opt["state"]))],
            "param_groups": opt["param_groups"],
            **{k: ck[k] for k in ("step", "frames_seen", "clips_seen", "rng", "torch_rng", "config")},
            **{k: ck[k] for k in ("soup",) if k in ck}}  # training/soup.py's provenance


def expand_checkpoint(ck):
    """Inverse of compact_checkpoint (exp_avg restarts at zero); a full checkpoint passes through."""
    if ck.get("format") != "compact-1":
        return ck
    state = {i: {"step": torch.tensor(float(ck["step"])), "exp_avg": torch.zeros(v.shape),
                 "exp_avg_sq": v.float()} for i, v in enumerate(ck["exp_avg_sq"])}
    return {**{k: ck[k] for k in ("unet", "text_encoder", "step", "frames_seen", "clips_seen", "rng", "torch_rng",
                                  "config")},
            **{k: ck[k] for k in ("soup",) if k in ck},
            "ema_unet": {k: ck["unet"][k] + v.float() for k, v in ck["ema_delta_unet"].items()},
            "ema_text_encoder": {k: ck["text_encoder"][k] + v.float() for k, v in ck["ema_delta_text_encoder"].items()},
            "optimizer": {"state": state, "param_groups": ck["param_groups"]}}


def load_checkpoint(path, ema=True):
    """A training checkpoint (training/runs/<name>/ckpt.pt) -> (unet, text_encoder), eval mode."""
    ck = expand_checkpoint(torch.load(path))
    ucfg = {k: v for k, v in ck["config"]["unet"].items() if not k.startswith("_")}
    unet = UNet3DConditionModel(UNetConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in ucfg.items()}))
    tcfg = {k: v for k, v in ck["config"]["text_encoder"].items() if k not in ("_class_name", "architectures", "model_type")}
    text = CLIPTextModel(TextConfig(**tcfg))
    unet.load_state_dict(ck["ema_unet" if ema else "unet"])
    text.load_state_dict(ck["ema_text_encoder" if ema else "text_encoder"])
    return unet.eval(), text.eval(), ck
