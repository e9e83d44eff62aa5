// Opens a diffusers model folder's weights as published: `<stem>.safetensors`, or shards listed by
// `<stem>.safetensors.index.json` ({metadata: {total_size}, weight_map: {key: shard file}}). A
// pickle checkpoint (`<stem>.bin`, or a `.bin` index) is refused with the command that converts it,
// since reading pickles means running Python. Every tensor is read from disk only when asked for.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { entryIn, SafetensorsFile, type TensorEntry, type TensorReader } from '../safetensors.js';
import { fileSource } from './file-source.js';

export class CheckpointError extends Error {
  readonly code = 'bad-checkpoint';
}

/** The file stem diffusers uses for a UNet / VAE (`transformers` models use `model`). */
export const DIFFUSERS_WEIGHTS_STEM = 'diffusion_pytorch_model';

/** One safetensors file on disk, read lazily. */
export function openSafetensors(path: string, label = path): SafetensorsFile {
  return SafetensorsFile.open(fileSource(path), label);
}

/** The shards of a sharded checkpoint seen as one reader; each key must sit in the shard the index names. */
export class ShardedTensors implements TensorReader {
  readonly entries: ReadonlyMap<string, TensorEntry>;
  private readonly owner = new Map<string, SafetensorsFile>();

  constructor(readonly label: string, shards: SafetensorsFile[], weightMap: Record<string, string>) {
    const entries = new Map<string, TensorEntry>();
    for (const shard of shards) {
      for (const [key, e] of shard.entries) {
        const listed = weightMap[key];
        if (listed === undefined) throw new CheckpointError(`${label}: weight '${key}' is in ${shard.label} but not in the index's weight_map`);
        if (basename(shard.label) !== listed) throw new CheckpointError(`${label}: weight '${key}' is in ${shard.label}, the index says ${listed}`);
        if (this.owner.has(key)) throw new CheckpointError(`${label}: weight '${key}' is in two shards`);
        this.owner.set(key, shard);
        entries.set(key, e);
      }
    }
    for (const [key, file] of Object.entries(weightMap)) {
      if (!this.owner.has(key)) throw new CheckpointError(`${label}: weight_map lists '${key}' in ${file}, but that shard has no such tensor`);
    }
    this.entries = entries;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): TensorEntry {
    return entryIn(this, name);
  }

  float32(name: string): Float32Array {
    entryIn(this, name); // a name no shard holds fails here, naming this checkpoint
    return this.owner.get(name)!.float32(name);
  }
}

/** The exact command that turns a pickle checkpoint in `dir` into safetensors next to it. */
export function conversionCommand(dir: string, stem: string, sharded: boolean): string {
  const py = sharded
    ? `import json, torch; from safetensors.torch import save_file; d = '${dir}'; idx = json.load(open(d + '/${stem}.bin.index.json')); ` +
      `files = sorted(set(idx['weight_map'].values())); ` +
      `[save_file({k: v.contiguous() for k, v in torch.load(d + '/' + f, map_location='cpu', weights_only=True).items()}, d + '/' + f.replace('.bin', '.safetensors'), metadata={'format': 'pt'}) for f in files]; ` +
      `json.dump({'metadata': idx.get('metadata', {}), 'weight_map': {k: v.replace('.bin', '.safetensors') for k, v in idx['weight_map'].items()}}, open(d + '/${stem}.safetensors.index.json', 'w'))`
    : `import torch; from safetensors.torch import save_file; d = '${dir}'; ` +
      `save_file({k: v.contiguous() for k, v in torch.load(d + '/${stem}.bin', map_location='cpu', weights_only=True).items()}, d + '/${stem}.safetensors', metadata={'format': 'pt'})`;
  return `python3 -c "${py}"`;
}

/** The weights of the model folder `dir` (single file or shards). */
export function openCheckpoint(dir: string, stem = DIFFUSERS_WEIGHTS_STEM): TensorReader {
  const single = join(dir, `${stem}.safetensors`);
  const index = join(dir, `${stem}.safetensors.index.json`);
  if (existsSync(single)) return openSafetensors(single);
  if (existsSync(index)) {
    let parsed: { weight_map?: unknown };
    try {
      parsed = JSON.parse(readFileSync(index, 'utf8'));
    } catch (e) {
      throw new CheckpointError(`${index}: not valid JSON (${(e as Error).message})`);
    }
    const map = parsed.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map) || !Object.values(map).every((v) => typeof v === 'string')) {
      throw new CheckpointError(`${index}: needs a weight_map object {key: shard file}`);
    }
    const weightMap = map as Record<string, string>;
    const files = [...new Set(Object.values(weightMap))].sort();
    const shards = files.map((f) => {
      const path = join(dir, f);
      if (f.includes('/') || f.includes('\\')) throw new CheckpointError(`${index}: shard '${f}' is not a file name in ${dir}`);
      if (!existsSync(path)) throw new CheckpointError(`${index}: shard '${f}' is missing from ${dir}`);
      return openSafetensors(path);
    });
    return new ShardedTensors(index, shards, weightMap);
  }
  for (const [file, sharded] of [[`${stem}.bin`, false], [`${stem}.bin.index.json`, true]] as const) {
    if (existsSync(join(dir, file))) {
      throw new CheckpointError(
        `${join(dir, file)} is a PyTorch pickle checkpoint; only safetensors are read (a pickle runs code when loaded). ` +
        `Convert it once, in a Python with torch and safetensors:\n  ${conversionCommand(dir, stem, sharded)}`,
      );
    }
  }
  throw new CheckpointError(`${dir}: no weights (${stem}.safetensors or ${stem}.safetensors.index.json)`);
}
