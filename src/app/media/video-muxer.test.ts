import { describe, expect, it } from 'vitest';
import { MediaExportError, frameDurationUs, timestampUsOfFrame, type EncodedClip } from './encoded-clip.js';
import { muxClips } from './video-muxer.js';

// Only the checks that run before any byte is muxed; real muxing is covered in Chromium
// (e2e/media-export.spec.ts).
function clip(first: number, count: number, overrides: Partial<EncodedClip> = {}): EncodedClip {
  const fps = overrides.fps ?? 8;
  return {
    codec: 'vp9',
    codecString: 'vp09.00.11.08',
    width: 256,
    height: 256,
    fps,
    firstFrameIndex: first,
    frameCount: count,
    chunks: Array.from({ length: count }, (_, i) => ({
      type: i === 0 ? ('key' as const) : ('delta' as const),
      timestampUs: timestampUsOfFrame(first + i, fps),
      durationUs: frameDurationUs(fps),
      data: new Uint8Array([1, 2, 3]),
    })),
    ...overrides,
  };
}

async function expectMuxError(clips: EncodedClip[], code: string, pattern: RegExp, totalFrames?: number): Promise<void> {
  const err = await muxClips(clips, { codec: 'vp9', fps: 8, ...(totalFrames !== undefined ? { totalFrames } : {}) }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MediaExportError);
  expect((err as MediaExportError).code).toBe(code);
  expect((err as Error).message).toMatch(pattern);
}

describe('muxClips checks', () => {
  it('rejects no clips, gaps, overlaps and wrong order', async () => {
    await expectMuxError([], 'clips-mismatch', /no clips/);
    await expectMuxError([clip(1, 4)], 'clips-mismatch', /frames \[0, 1\) are missing before clip 0/);
    await expectMuxError([clip(0, 4), clip(5, 4)], 'clips-mismatch', /frames \[4, 5\) are missing before clip 1/);
    await expectMuxError([clip(0, 4), clip(3, 4)], 'clips-mismatch', /clip 1 starts at frame 3, but frames up to 3 are already covered/);
    await expectMuxError([clip(4, 4), clip(0, 4)], 'clips-mismatch', /missing before clip 0/);
    await expectMuxError([clip(0, 4), clip(4, 4)], 'clips-mismatch', /cover frames \[0, 8\), the job has 12 frames/, 12);
  });

  it('rejects clips that disagree with the export or each other', async () => {
    await expectMuxError([clip(0, 4), clip(4, 4, { codec: 'vp8', codecString: 'vp8' })], 'clips-mismatch', /clip 1 is vp8, the export is vp9/);
    await expectMuxError([clip(0, 4), clip(4, 4, { fps: 10 })], 'clips-mismatch', /clip 1 is at 10 fps, the export at 8 fps/);
    await expectMuxError([clip(0, 4), clip(4, 4, { width: 128 })], 'clips-mismatch', /clip 1 is 128×256, clip 0 is 256×256/);
  });

  it('rejects a clip with a frame missing or repeated', async () => {
    const c = clip(0, 4);
    const repeated = { ...c, chunks: [c.chunks[0]!, c.chunks[1]!, c.chunks[1]!, c.chunks[3]!] };
    await expectMuxError([repeated], 'bad-clip', /clip 0: chunk 2: frame 1 appears twice/);
    const short = { ...c, chunks: c.chunks.slice(0, 3) };
    await expectMuxError([short], 'bad-clip', /has 3 chunks for 4 frames/);
  });

  it('requires Annex B H.264 with in-band parameter sets', async () => {
    const avc = (first: number, overrides: Partial<EncodedClip> = {}): EncodedClip => clip(first, 2, { codec: 'avc', codecString: 'avc1.42e015', ...overrides });
    const run = (clips: EncodedClip[]) => muxClips(clips, { codec: 'avc', fps: 8 }).then(() => null, (e: unknown) => e as MediaExportError);
    expect((await run([avc(0, { description: new Uint8Array([1]) })]))?.message).toMatch(/clip 0 is H.264 with an avcC description/);
    expect((await run([avc(0)]))?.message).toMatch(/clip 0's first chunk has no in-band SPS\/PPS/);
  });
});
