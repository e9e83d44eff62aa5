// Which UNet graph set a tab runs: float16 compute only on WebGPU with shader-f16 and a package that has it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parseManifest, type ModelManifest } from '../model/manifest.js';
import { chooseUNetCompute } from './engine-model.js';

const tiny = (): ModelManifest => parseManifest(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'public', 'models', 'vi-shapes-tiny', 'manifest.json'), 'utf8')));

it('picks float16 compute only for WebGPU with shader-f16 on a package carrying the set', () => {
  const f16: ModelManifest = { ...tiny(), unet: { ...tiny().unet, precision: 'float16', float16_compute: { onnx_whole: 'onnx/unet_f16.onnx', segment_plan: 'onnx/segment-plan-f16.json' } } };
  expect(chooseUNetCompute(f16, 'webgpu', true)).toBe('float16');
  expect(chooseUNetCompute(f16, 'webgpu', false)).toBe('float32'); // Chromium blocks shader-f16 on some GPU/driver pairs
  expect(chooseUNetCompute(f16, 'wasm', true)).toBe('float32');
  expect(chooseUNetCompute(f16, null, true)).toBe('float32');
  expect(chooseUNetCompute(tiny(), 'webgpu', true)).toBe('float32'); // a float32 package has no float16 set
});
