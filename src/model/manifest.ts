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
  text_encoder: { config: string; weights: string; onnx: string; max_length: number; hidden_size: number; input: 'input_ids'; output: 'last_hidden_state' };
  tokenizer: { file: string; type: 'word-level' };
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
  };
  /** Every file of the package except manifest.json itself, keyed by path relative to the package. */
  files: Record<string, FileEntry>;
}

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
  const referenced = [m.text_encoder.onnx, m.tokenizer.file, m.unet.onnx_whole, m.unet.segment_plan];
  for (const path of referenced) if (!(path in m.files)) fail(`'${path}' is referenced but not listed in files`);
  for (const [path, e] of Object.entries(m.files)) {
    if (path.includes('..') || path.startsWith('/')) fail(`file path '${path}' leaves the package`);
    if (!Number.isInteger(e.bytes) || e.bytes < 0 || !/^[0-9a-f]{64}$/.test(e.sha256)) fail(`files['${path}'] needs integer bytes and a hex sha256`);
  }
  return m;
}

/**
 * The files a tab needs to render: every file of the package except the source weights
 * (safetensors), which only the compiler reads; the ONNX graphs and their weight shards carry what
 * they use. For the embedded model: 10.6 of the package's 20.6 MB.
 */
export function runtimeFiles(manifest: ModelManifest): string[] {
  const compilerOnly = new Set([manifest.unet.weights, manifest.text_encoder.weights]);
  return Object.keys(manifest.files).filter((path) => !compilerOnly.has(path));
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
