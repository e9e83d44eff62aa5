// The model package manifest (`manifest.json`, docs/model-package.md): types, validation, and the
// sha256 check of package files (before use and caching). Runs in Node and the browser (Web Crypto).
// Keys are snake_case on disk, as the training side's ship script writes them (training/package.py);
// the compiler rewrites the file keeping those keys and adding the compiled graphs.

export class ManifestError extends Error {
  constructor(message: string, readonly code: 'bad-manifest' | 'bad-file-hash' = 'bad-manifest') {
    super(message);
  }
}

export interface FileEntry {
  bytes: number;
  sha256: string;
}

/** Generation defaults (training/package.py RENDER_DEFAULTS); dual-scope ones as in docs/design.md. */
export interface RenderDefaults {
  fps: number;
  native_frames: number;
  /** p: local window half-width in frames. */
  local_window_p: number;
  /** topK: number of global frames. */
  global_top_k: number;
  /** T_phase: t ≥ phase_t biases global keys, else local keys. */
  phase_t: number;
  /** b: the phase bias added to logits. */
  phase_bias: number;
  guidance: number;
  steps: number;
  sampler: string;
  uncond_prompt: string;
  [extra: string]: unknown;
}

export type LatentDecode =
  | { kind: 'pixel_shuffle'; factor: number; value_range: [number, number] }
  | { kind: 'vae'; scaling_factor: number };

/**
 * A VAE model's decoder (docs/model-package.md). The graph takes the diffusion latents as they are
 * ([N, C, h, w], N frames) and applies 1/scaling_factor itself; it outputs RGB about [-1, 1],
 * [N, 3, upscale·h, upscale·w].
 */
export interface VaeEntry {
  config: string;
  /** The source checkpoint, when the package keeps it: read only by the compiler, never by a tab. */
  weights?: string;
  onnx: string;
  /** Graph input [N, C, h, w] (diffusion latents, N frames) and output [N, 3, upscale·h, upscale·w]. */
  input: 'latent';
  output: 'sample';
  /** The graph's ONNX external-data files (its weights), each listed in `files`. */
  external_data: string[];
  /** Output pixels per latent pixel along each axis (8 for SD's VAE). */
  upscale: number;
  /** Estimated working memory of decoding one frame (bytes); the engine sizes its frame batches by it. */
  bytes_per_frame: number;
  /** Per-step previews: rgb = matrix · z + bias per latent pixel (matrix [3][C]); fitted at compile time. */
  latent_preview: { matrix: number[][]; bias: number[]; r2: number };
}

/**
 * The tokenizer: word level (the embedded model's tokenizer.json, src/model/tokenizer.ts), or CLIP
 * byte-level BPE (a pipeline's tokenizer/ folder as published, src/model/clip-tokenizer.ts).
 */
export type TokenizerEntry =
  | { type: 'word-level'; file: string }
  | { type: 'clip-bpe'; /** vocab.json */ file: string; merges: string; config?: string; special_tokens_map?: string };

/** Every package file of a tokenizer entry. */
export function tokenizerFiles(t: TokenizerEntry): string[] {
  return t.type === 'clip-bpe' ? [t.file, t.merges, ...(t.config ? [t.config] : []), ...(t.special_tokens_map ? [t.special_tokens_map] : [])] : [t.file];
}

export interface ModelManifest {
  /** Package id (= directory name under public/models/). Key kept from training/package.py. */
  name: string;
  /** Manifest format number. Key kept from training/package.py. */
  format: 1;
  version: string;
  family: 'unet3d-videocrafter';
  info?: Record<string, unknown>;
  defaults: RenderDefaults;
  /** Latent layout: [Cin, H, W] per frame; the engine keeps latents frame-major [F, C, H, W]. */
  latent: { channels: number; height: number; width: number; decode: LatentDecode };
  /** Frames per second of the exported video (also the fps condition unless defaults say otherwise). */
  frame_rate: number;
  text_encoder: {
    config: string; weights: string; onnx: string; max_length: number; hidden_size: number; input: 'input_ids'; output: 'last_hidden_state';
    /** The graph's ONNX external-data files (its weights), each listed in `files`; absent when the weights are inline. */
    external_data?: string[];
  };
  tokenizer: TokenizerEntry;
  scheduler: {
    config: string;
    num_train_timesteps: number;
    beta_start: number;
    beta_end: number;
    beta_schedule: 'scaled_linear' | 'linear';
    prediction_type: 'epsilon' | 'v_prediction';
  };
  unet: {
    config: string;
    weights: string;
    /** Whole-video graph for a single tab (no exchange points). */
    onnx_whole: string;
    /** SegmentPlan JSON (src/model/segment-plan.ts); its segment files are listed in `files` too. */
    segment_plan: string;
    batch: number;
    segments: number;
    exchange_points: number;
    /**
     * Storage precision of the UNet's weight shards (absent: 'float32'). 'float16' graphs upcast each
     * weight to float32 at load, so they run on any backend.
     */
    precision?: UNetPrecision;
    /**
     * The float16-compute graph set (only with float16 weights), for adapters with shader-f16: same
     * plan and float32 I/O, sharing the weight shards.
     */
    float16_compute?: { onnx_whole: string; segment_plan: string };
    /**
     * The batch-1 graph set of a guidance split (engine guidance-split.ts: one CFG branch per rank),
     * float32 compute, sharing the weight shards. Ranks run its segments; its whole graph is for
     * tools (a split always has two ranks), so tabs never download it.
     */
    cfg_split?: { onnx_whole: string; segment_plan: string };
  };
  /** Present exactly when latent.decode.kind is 'vae'. */
  vae?: VaeEntry;
  /** Every file of the package except manifest.json itself, keyed by path relative to the package. */
  files: Record<string, FileEntry>;
}

export const UNET_PRECISIONS = ['float32', 'float16'] as const;
export type UNetPrecision = (typeof UNET_PRECISIONS)[number];

const REQUIRED_DEFAULTS = ['local_window_p', 'global_top_k', 'phase_t', 'phase_bias', 'steps', 'guidance'] as const;

/** Validate the structure of a manifest read from disk or network. */
export function parseManifest(json: unknown, label = 'manifest.json'): ModelManifest {
  const fail = (m: string): never => {
    throw new ManifestError(`${label}: ${m}`);
  };
  if (typeof json !== 'object' || json === null) fail('not a JSON object');
  const m = json as ModelManifest;
  if (m.format !== 1) fail(`format ${JSON.stringify(m.format)} is not supported (expected 1)`);
  if (typeof m.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(m.name)) fail(`name ${JSON.stringify(m.name)} is not a package id`);
  for (const k of ['latent', 'text_encoder', 'tokenizer', 'scheduler', 'unet', 'files', 'defaults'] as const) {
    if (typeof m[k] !== 'object' || m[k] === null) fail(`missing section '${k}'`);
  }
  for (const k of REQUIRED_DEFAULTS) if (typeof m.defaults[k] !== 'number') fail(`defaults.${k} must be a number`);
  if (m.unet.precision !== undefined && !(UNET_PRECISIONS as readonly unknown[]).includes(m.unet.precision)) {
    fail(`unet.precision ${JSON.stringify(m.unet.precision)} is not one of ${UNET_PRECISIONS.join(', ')}`);
  }
  const f16 = m.unet.float16_compute;
  if (f16 !== undefined) {
    if (m.unet.precision !== 'float16') fail('unet.float16_compute needs unet.precision "float16" (the set shares the float16 weight shards)');
    if (typeof f16 !== 'object' || f16 === null || typeof f16.onnx_whole !== 'string' || typeof f16.segment_plan !== 'string') fail('unet.float16_compute needs onnx_whole and segment_plan');
  }
  if (m.tokenizer.type !== 'word-level' && m.tokenizer.type !== 'clip-bpe') fail(`tokenizer.type ${JSON.stringify((m.tokenizer as { type?: unknown }).type)} is not 'word-level' or 'clip-bpe'`);
  if (m.tokenizer.type === 'clip-bpe' && typeof m.tokenizer.merges !== 'string') fail("tokenizer of type 'clip-bpe' needs 'merges'");
  const textData = m.text_encoder.external_data;
  if (textData !== undefined && (!Array.isArray(textData) || !textData.every((p) => typeof p === 'string'))) fail('text_encoder.external_data must be a list of paths');
  const split = m.unet.cfg_split;
  if (split !== undefined && (typeof split !== 'object' || split === null || typeof split.onnx_whole !== 'string' || typeof split.segment_plan !== 'string')) fail('unet.cfg_split needs onnx_whole and segment_plan');
  const referenced = [
    m.text_encoder.onnx, ...(textData ?? []), ...tokenizerFiles(m.tokenizer), m.unet.onnx_whole, m.unet.segment_plan,
    ...(f16 ? [f16.onnx_whole, f16.segment_plan] : []), ...(split ? [split.onnx_whole, split.segment_plan] : []),
  ];
  for (const path of referenced) if (!(path in m.files)) fail(`'${path}' is referenced but not listed in files`);
  for (const path of checkVae(m, fail)) if (!(path in m.files)) fail(`'${path}' is referenced but not listed in files`);
  for (const [path, e] of Object.entries(m.files)) {
    if (path.includes('..') || path.startsWith('/')) fail(`file path '${path}' leaves the package`);
    if (!Number.isInteger(e.bytes) || e.bytes < 0 || !/^[0-9a-f]{64}$/.test(e.sha256)) fail(`files['${path}'] needs integer bytes and a hex sha256`);
  }
  return m;
}

/** Validates the latent decode and the vae section against each other; returns the files the vae section names. */
function checkVae(m: ModelManifest, fail: (msg: string) => never): string[] {
  const d = m.latent.decode as Partial<Extract<LatentDecode, { kind: 'vae' }>> | undefined;
  if (typeof d !== 'object' || d === null) return fail("latent.decode must be an object");
  if (d.kind !== 'vae') {
    if (m.vae !== undefined) fail(`a 'vae' section needs latent.decode.kind 'vae', not ${JSON.stringify(d.kind)}`);
    return [];
  }
  if (typeof d.scaling_factor !== 'number' || !(d.scaling_factor > 0)) fail(`latent.decode.scaling_factor ${JSON.stringify(d.scaling_factor)} must be a positive number`);
  const v = m.vae;
  if (typeof v !== 'object' || v === null) return fail("latent.decode.kind 'vae' needs a 'vae' section");
  for (const k of ['config', 'onnx'] as const) if (typeof v[k] !== 'string') fail(`vae.${k} must be a path`);
  if (v.input !== 'latent' || v.output !== 'sample') fail(`vae input/output must be 'latent'/'sample', not ${JSON.stringify(v.input)}/${JSON.stringify(v.output)}`);
  if (v.weights !== undefined && typeof v.weights !== 'string') fail('vae.weights must be a path');
  if (!Array.isArray(v.external_data) || !v.external_data.every((p) => typeof p === 'string')) fail('vae.external_data must be a list of paths');
  if (!Number.isInteger(v.upscale) || v.upscale < 1) fail(`vae.upscale ${JSON.stringify(v.upscale)} must be a positive integer`);
  if (!Number.isFinite(v.bytes_per_frame) || v.bytes_per_frame <= 0) fail(`vae.bytes_per_frame ${JSON.stringify(v.bytes_per_frame)} must be a positive number`);
  const p = v.latent_preview;
  const C = m.latent.channels;
  const finite = (xs: unknown, n: number) => Array.isArray(xs) && xs.length === n && xs.every((x) => Number.isFinite(x));
  if (typeof p !== 'object' || p === null || !Array.isArray(p.matrix) || p.matrix.length !== 3 || !p.matrix.every((row) => finite(row, C)) || !finite(p.bias, 3)) {
    fail(`vae.latent_preview needs matrix [3][${C}] (latent channels) and bias [3] of finite numbers`);
  }
  return [v.config, v.onnx, ...v.external_data, ...(v.weights ? [v.weights] : [])];
}

/**
 * What a tab downloads, by the part it runs: 'compute' (UNet graphs, weights shards, plan: every
 * tab that renders a clip) or 'text-encoder' (tokenizer and text-encoder graph: only the host,
 * which encodes a job's prompts once for the whole room). Neither includes the source weights
 * (safetensors), which only the compiler reads. For the embedded model the compute part is
 * 10.6 of the package's 20.6 MB.
 */
export type PackagePart = 'compute' | 'text-encoder';

/** Which UNet graph set a tab runs: the float32-compute graphs (any backend) or the float16-compute set (shader-f16). */
export type UNetCompute = UNetPrecision;

/** The UNet graph set that computes in `compute`; throws when the package has none (float16 needs `--precision fp16`). */
export function unetGraphSet(manifest: ModelManifest, compute: UNetCompute): { onnx_whole: string; segment_plan: string } {
  if (compute === 'float32') return { onnx_whole: manifest.unet.onnx_whole, segment_plan: manifest.unet.segment_plan };
  const f16 = manifest.unet.float16_compute;
  if (!f16) throw new ManifestError(`${manifest.name}: no float16-compute UNet graphs in this package (compile it with --precision fp16)`);
  return f16;
}

/**
 * Whether `path` is a graph file of one UNet graph set: its whole graph, its plan, or one of its
 * segment graphs, which the compiler names `<whole graph's stem>_seg_NNN.onnx` (compile-model.ts
 * segFile / segFileF16; a test compiles a package and checks this against the plans). The weight
 * shards are shared by both sets and belong to neither.
 */
function inGraphSet(set: { onnx_whole: string; segment_plan: string }, path: string): boolean {
  if (path === set.onnx_whole || path === set.segment_plan) return true;
  const prefix = `${set.onnx_whole.replace(/\.onnx$/, '')}_seg_`;
  return path.startsWith(prefix) && /^\d+\.onnx$/.test(path.slice(prefix.length));
}

/**
 * The files `part` of the package needs. 'compute' holds one UNet graph set, the one computing in
 * `compute` (default float32): a tab never downloads the graphs of the other.
 */
export function runtimeFiles(manifest: ModelManifest, part: PackagePart, compute: UNetCompute = 'float32'): string[] {
  const compilerOnly = new Set([manifest.unet.weights, manifest.text_encoder.weights, manifest.vae?.weights, manifest.unet.cfg_split?.onnx_whole]);
  const t = manifest.text_encoder;
  const text = new Set([...tokenizerFiles(manifest.tokenizer), t.config, t.onnx, ...(t.external_data ?? [])]);
  const runs = unetGraphSet(manifest, compute);
  const f16 = manifest.unet.float16_compute;
  const otherSets = [unetGraphSet(manifest, 'float32'), ...(f16 ? [f16] : [])].filter((s) => s.onnx_whole !== runs.onnx_whole);
  const notRun = (path: string) => part === 'compute' && otherSets.some((s) => inGraphSet(s, path)) && !inGraphSet(runs, path);
  return Object.keys(manifest.files).filter((path) => !compilerOnly.has(path) && text.has(path) === (part === 'text-encoder') && !notRun(path));
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Throws unless `bytes` is exactly the file the manifest lists under `path`. */
export async function verifyFile(manifest: ModelManifest, path: string, bytes: Uint8Array): Promise<void> {
  const e = manifest.files[path];
  if (!e) throw new ManifestError(`${manifest.name}: '${path}' is not a file of the package`, 'bad-file-hash');
  if (bytes.byteLength !== e.bytes) throw new ManifestError(`${manifest.name}/${path}: ${bytes.byteLength} bytes, manifest says ${e.bytes}`, 'bad-file-hash');
  const got = await sha256Hex(bytes);
  if (got !== e.sha256) throw new ManifestError(`${manifest.name}/${path}: sha256 ${got}, manifest says ${e.sha256}`, 'bad-file-hash');
}
