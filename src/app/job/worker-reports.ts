/**
 * A worker tab's rank reports to the host: its engine and each step (timings, bytes, a small
 * preview) as control messages; each step's checkpoint and the encoded clip as blobs on the bulk
 * link, with the mesh's framing, chunking and back-pressure.
 */
import type { BulkLink } from '../../net/bulk-link.js';
import { serializeEncodedClip } from '../media/index.js';
import type { ControlMessage } from '../protocol.js';
import type { RankReports } from './rank-runner.js';
import { toBase64 } from './render-spec.js';

/** Previews larger than this (pixels) are not sent: the dashboard shows a thumbnail. */
const MAX_PREVIEW_PIXELS = 128 * 128;

export function workerReports(renderJobId: number, rank: number, send: (m: ControlMessage) => void, bulk: BulkLink): RankReports {
  let checkpointBytes = 0; // of the step whose report goes next
  return {
    engine: (e) => send({ type: 'engine', renderJobId, rank, provider: e.provider, loadMs: e.loadMs, ...(e.fallbackReason && { fallbackReason: e.fallbackReason.slice(0, 1000) }) }),
    checkpoint: (nextStep, bytes) => {
      checkpointBytes = bytes.byteLength;
      // A lost link fails the job through the control link's loss; nothing to add here.
      bulk.send({ kind: 'checkpoint', jobId: renderJobId, step: nextStep, rank }, bytes).catch(() => undefined);
    },
    step: (p, preview) => {
      send({
        type: 'step', renderJobId, rank, step: p.step, steps: p.steps, stepMs: p.stepMs, computeMs: p.computeMs, networkWaitMs: p.networkWaitMs,
        bytesSent: Math.round(p.bytesSent), bytesReceived: Math.round(p.bytesReceived), checkpointBytes,
        ...(preview.width * preview.height <= MAX_PREVIEW_PIXELS && { preview: { globalFrame: preview.globalFrame, width: preview.width, height: preview.height, rgbBase64: toBase64(preview.rgb) } }),
      });
      checkpointBytes = 0;
    },
    clip: (clip) => bulk.send({ kind: 'clip', jobId: renderJobId, step: 0, rank }, serializeEncodedClip(clip)),
  };
}
