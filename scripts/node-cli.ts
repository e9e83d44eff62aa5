// What the Node tools that render in-process share: the ORT session options they run with and how
// they read a `--name value` flag.

// The segmented UNet is many small session runs (48 per call per rank). ORT's spinning intra-op
// thread pool burns the cores between them: on 2 busy shared cores a 16-frame, 3-step segmented
// render took 12.7 s with the default options and 0.85 s with spinning off (whole graph: 1.2 s / 0.66 s).
export const NO_SPIN = { extra: { session: { intra_op: { allow_spinning: '0' } } } };

/** The value after `--name` on the command line, `fallback` without the flag; a flag with no value is an error. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}
