import type { DataConnection } from 'peerjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONTROL_HEARTBEAT_MS, CONTROL_SILENCE_MS, ControlEndpoint, ControlError } from '../net/control-link.js';
import { PeerLink } from '../net/mesh/peer-hub.js';
import { FROM_HOST, FROM_MEMBER, parseControlMessage } from './protocol-check.js';
import { CONTROL_VERSION, MEMBER_REPORT_LIMITS, type ControlMessage, type MemberReportMessage } from './protocol.js';

function code(raw: unknown): string {
  try {
    parseControlMessage(raw);
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(ControlError);
    return (e as ControlError).code;
  }
}

describe('control messages', () => {
  it('accepts well-formed messages of every type', () => {
    const ok = [
      { type: 'join', v: CONTROL_VERSION, name: 'tab', adapter: { backend: 'wasm', reason: 'no navigator.gpu' } },
      { type: 'join', v: CONTROL_VERSION, name: 'tab', adapter: { backend: 'webgpu', vendor: 'google', shaderF16: false, limits: { maxBufferSize: 1 } } },
      { type: 'claim', meshJobId: 1, rank: 0 },
      { type: 'mesh-check-result', meshJobId: 1, rank: 0, pairs: [{ fromRank: 0, toRank: 1, rttMs: 1.5, mbPerS: 30 }] },
      { type: 'error', error: { code: 'timeout', message: 'x', rank: 1 } },
      { type: 'start', meshJobId: 4, roster: ['a', 'b'], task: { kind: 'mesh-check', probeBytes: 1024 } },
      { type: 'cancel', meshJobId: 4, reason: 'user' },
      { type: 'step', renderJobId: 9, rank: 1, step: 2, steps: 10, stepMs: 5, computeMs: 4, networkWaitMs: 1, bytesSent: 100, bytesReceived: 90, checkpointBytes: 4096 },
      { type: 'engine', renderJobId: 9, rank: 1, provider: 'webgpu', loadMs: 12 },
    ];
    for (const m of ok) expect(code(m)).toBe('ok');
    expect(parseControlMessage(JSON.stringify(ok[2]))).toEqual(ok[2]);
  });

  it.each([
    ['not JSON', '{'],
    ['no type', { meshJobId: 1 }],
    ['unknown type', { type: 'rm -rf' }],
    ['prototype key', { type: 'constructor' }],
    ['old version', { type: 'join', v: 1, name: 'x', adapter: { backend: 'wasm' } }],
    ['future version', { type: 'join', v: CONTROL_VERSION + 1, name: 'x', adapter: { backend: 'wasm' } }],
    ['bad backend', { type: 'join', v: CONTROL_VERSION, name: 'x', adapter: { backend: 'cuda' } }],
    ['negative rank', { type: 'claim', meshJobId: 1, rank: -1 }],
    ['roster of numbers', { type: 'start', meshJobId: 1, roster: [1, 2], task: { kind: 'mesh' } }],
    ['huge probe', { type: 'start', meshJobId: 1, roster: ['a'], task: { kind: 'mesh-check', probeBytes: 1e12 } }],
    ['oversized', { type: 'cancel', meshJobId: 1, reason: 'x'.repeat(70_000) }],
    // blobs travel on the bulk link: the base64 pieces of earlier versions are no message at all
    ['a base64 checkpoint piece', { type: 'checkpoint-chunk', renderJobId: 1, rank: 0, nextStep: 1, index: 0, count: 1, base64: 'AAAA' }],
    ['a base64 clip piece', { type: 'clip-chunk', renderJobId: 1, rank: 0, index: 0, count: 1, base64: 'AAAA' }],
    ['a step without its checkpoint bytes', { type: 'step', renderJobId: 9, rank: 1, step: 2, steps: 10, stepMs: 5, computeMs: 4, networkWaitMs: 1, bytesSent: 100, bytesReceived: 90 }],
    ['array', []],
    ['null', null],
  ])('rejects %s', (_n, raw) => {
    expect(code(raw)).toBe('bad-message');
  });
});

/** Why `raw` was refused ('ok' when it was not). */
function reason(raw: unknown): string {
  try {
    parseControlMessage(raw);
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(ControlError);
    expect((e as ControlError).code).toBe('bad-message');
    return (e as ControlError).message;
  }
}

describe('member-report (a member\'s engine outside jobs, worker → host)', () => {
  const v = CONTROL_VERSION;
  const speed = { graph: 'segmented', frames: 8, unetMs: 640, framesPerSecond: 12.5 };
  const ready = { type: 'member-report', v, phase: 'ready', backend: 'wasm', loadMs: 1234, fallbackReason: 'no WebGPU adapter', speed };
  const good: MemberReportMessage[] = [
    { type: 'member-report', v, phase: 'loading' },
    { type: 'member-report', v, phase: 'loading', loadedBytes: 0, totalBytes: 0 },
    { type: 'member-report', v, phase: 'loading', loadedBytes: 1000, totalBytes: 4000 },
    { type: 'member-report', v, phase: 'measuring', backend: 'webgpu', loadMs: 0 },
    ready as MemberReportMessage,
    { type: 'member-report', v, phase: 'ready', backend: 'webgpu', loadMs: 3, speed: { graph: 'whole', frames: 4096, unetMs: 3_600_000, framesPerSecond: MEMBER_REPORT_LIMITS.maxFramesPerSecond } },
    { type: 'member-report', v, phase: 'failed', error: 'sha256 mismatch for onnx/unet_seg_000.onnx' },
    { type: 'member-report', v, phase: 'failed', error: '', backend: 'wasm', loadMs: 12, fallbackReason: 'x' },
  ];

  it('accepts every phase with its own fields, unchanged through JSON', () => {
    for (const m of good) expect(parseControlMessage(JSON.stringify(m)), JSON.stringify(m)).toEqual(m);
  });

  it.each([
    ['an old version', { ...ready, v: CONTROL_VERSION - 1 }, new RegExp(`control version ${CONTROL_VERSION - 1}, this tab speaks ${CONTROL_VERSION} \\(reload the tab\\)`)],
    ['no version', { ...ready, v: undefined }, /control version undefined/],
    ['an unknown phase', { ...ready, phase: 'rendering' }, /unknown phase "rendering"/],
    ['a phase of the wrong type', { ...ready, phase: 3 }, /unknown phase 3/],
    ['an inherited phase name', { ...ready, phase: 'constructor' }, /unknown phase "constructor"/],
    ['an unknown field', { ...ready, rank: 0 }, /field 'rank' is not part of a 'ready' report/],
    ['a prototype key', JSON.parse(`{"type":"member-report","v":${CONTROL_VERSION},"phase":"loading","__proto__":{"x":1}}`), /field '__proto__'/],
    ['a field of another phase', { ...ready, error: 'x' }, /field 'error' is not part of a 'ready' report/],
    ['bytes in a failed report', { type: 'member-report', v, phase: 'failed', error: 'x', loadedBytes: 1, totalBytes: 2 }, /field 'loadedBytes'/],
    ['ready without a speed', { ...ready, speed: undefined }, /a 'ready' report needs 'speed'/],
    ['measuring without a backend', { type: 'member-report', v, phase: 'measuring', loadMs: 1 }, /needs 'backend'/],
    ['failed without an error', { type: 'member-report', v, phase: 'failed' }, /needs 'error'/],
    ['loaded bytes alone', { type: 'member-report', v, phase: 'loading', loadedBytes: 5 }, /come together/],
    ['more loaded than in all', { type: 'member-report', v, phase: 'loading', loadedBytes: 5, totalBytes: 4 }, /loadedBytes 5: an integer in \[0, totalBytes\]/],
    ['fractional bytes', { type: 'member-report', v, phase: 'loading', loadedBytes: 0.5, totalBytes: 4 }, /loadedBytes 0.5/],
    ['bytes as a string', { type: 'member-report', v, phase: 'loading', loadedBytes: 1, totalBytes: '4' }, /totalBytes "4"/],
    ['a huge package', { type: 'member-report', v, phase: 'loading', loadedBytes: 1, totalBytes: 2 ** 53 }, /totalBytes/],
    ['an unknown backend', { ...ready, backend: 'cuda' }, /backend "cuda": webgpu or wasm/],
    ['a negative load time', { ...ready, loadMs: -1 }, /loadMs -1/],
    ['a load time of null (NaN through JSON)', { ...ready, loadMs: null }, /loadMs null/],
    ['an oversize fallback reason', { ...ready, fallbackReason: 'x'.repeat(MEMBER_REPORT_LIMITS.fallbackReasonChars + 1) }, /fallbackReason: a string of at most 1024/],
    ['an oversize error', { type: 'member-report', v, phase: 'failed', error: 'x'.repeat(MEMBER_REPORT_LIMITS.errorChars + 1) }, /error: a string of at most 2048/],
    ['an error object', { type: 'member-report', v, phase: 'failed', error: { message: 'x' } }, /error: a string/],
    ['a speed that is a number', { ...ready, speed: 12.5 }, /speed: an object/],
    ['a speed that is an array', { ...ready, speed: [12.5] }, /speed: an object/],
    ['an unknown speed field', { ...ready, speed: { ...speed, evil: '<script>' } }, /field 'speed.evil' is unknown/],
    ['an unknown graph', { ...ready, speed: { ...speed, graph: 'other' } }, /speed.graph "other"/],
    ['fractional frames', { ...ready, speed: { ...speed, frames: 1.5 } }, /speed.frames 1.5/],
    ['zero frames', { ...ready, speed: { ...speed, frames: 0 } }, /speed.frames 0/],
    ['too many frames', { ...ready, speed: { ...speed, frames: 1e9 } }, /speed.frames 1000000000/],
    ['a zero UNet time', { ...ready, speed: { ...speed, unetMs: 0 } }, /speed.unetMs 0/],
    ['a UNet time as a string', { ...ready, speed: { ...speed, unetMs: 'NaN' } }, /speed.unetMs "NaN"/],
    ['a zero speed', { ...ready, speed: { ...speed, framesPerSecond: 0 } }, /speed.framesPerSecond 0: a finite number in \(0, 1000000\]/],
    ['a negative speed', { ...ready, speed: { ...speed, framesPerSecond: -1 } }, /speed.framesPerSecond -1/],
    ['an absurd speed', { ...ready, speed: { ...speed, framesPerSecond: 1e300 } }, /speed.framesPerSecond 1e\+300/],
    ['a NaN speed (in process)', { ...ready, speed: { ...speed, framesPerSecond: NaN } }, /speed.framesPerSecond NaN/],
    ['an infinite speed (in process)', { ...ready, speed: { ...speed, framesPerSecond: Infinity } }, /speed.framesPerSecond Infinity/],
    ['a speed of null (Infinity through JSON)', JSON.parse(JSON.stringify({ ...ready, speed: { ...speed, framesPerSecond: Infinity } })), /speed.framesPerSecond null/],
  ])('refuses %s with a reason', (_n, raw, why) => {
    const got = reason(raw);
    expect(got).toMatch(/^malformed 'member-report' message: /);
    expect(got).toMatch(why);
  });

  it('refuses a report over the size limit before looking inside', () => {
    expect(reason(JSON.stringify({ ...ready, fallbackReason: 'x'.repeat(70_000) }))).toMatch(/over 65536 characters/);
  });
});

/** A PeerJS data connection as far as PeerLink and ControlEndpoint use one. */
function fakeConnection(peer: string) {
  const handlers = new Map<string, ((...a: unknown[]) => void)[]>();
  const sent: unknown[] = [];
  const conn = {
    peer, label: 'vi-control', open: true,
    on: (event: string, h: (...a: unknown[]) => void) => void handlers.set(event, [...(handlers.get(event) ?? []), h]),
    send: (m: unknown) => void sent.push(m),
    close: () => handlers.get('close')?.forEach((h) => h()),
  };
  return { conn: conn as unknown as DataConnection, sent, receive: (data: unknown) => handlers.get('data')?.forEach((h) => h(data)) };
}

describe('ControlEndpoint', () => {
  const report: MemberReportMessage = { type: 'member-report', v: CONTROL_VERSION, phase: 'measuring', backend: 'wasm', loadMs: 5 };

  it('drops a malformed report with an error and keeps the link up for the next message', () => {
    const { conn, receive } = fakeConnection('w1');
    const link = new PeerLink(conn);
    const host = new ControlEndpoint(link, FROM_MEMBER);
    const got: ControlMessage[] = [];
    const errors: string[] = [];
    host.onMessage((m) => got.push(m));
    host.onError((e, from) => errors.push(`${from}: ${e.code}: ${e.message}`));
    receive(JSON.stringify({ ...report, speed: { graph: 'segmented', frames: 8, unetMs: 1, framesPerSecond: Infinity } }));
    receive({ ...report, phase: 'ready', speed: { graph: 'segmented', frames: 8, unetMs: 1, framesPerSecond: 1e300 } });
    receive({ ...report, loadMs: 'slow' });
    receive(report);
    expect(errors).toEqual([
      "w1: bad-message: malformed 'member-report' message: field 'speed' is not part of a 'measuring' report",
      "w1: bad-message: malformed 'member-report' message: speed.framesPerSecond 1e+300: a finite number in (0, 1000000]",
      'w1: bad-message: malformed \'member-report\' message: loadMs "slow": a number in [0, 3600000]',
    ]);
    expect(got).toEqual([report]);
    expect(link.isClosed).toBe(false);
  });

  it('a worker refuses a member report from the host, and the host refuses commands from a worker', () => {
    const w = fakeConnection('host');
    const worker = new ControlEndpoint(new PeerLink(w.conn), FROM_HOST);
    const h = fakeConnection('w1');
    const host = new ControlEndpoint(new PeerLink(h.conn), FROM_MEMBER);
    const seen: string[] = [];
    for (const ep of [worker, host]) {
      ep.onMessage((m, from) => seen.push(`${from}: ${m.type}`));
      ep.onError((e, from) => seen.push(`${from}: ${e.code}`));
    }
    w.receive(report);
    h.receive({ type: 'cancel', meshJobId: 1, reason: 'x' });
    h.receive({ type: 'start', meshJobId: 1, roster: ['w1'], task: { kind: 'mesh' } });
    h.receive(report);
    expect(seen).toEqual(['host: not-allowed', 'w1: not-allowed', 'w1: not-allowed', 'w1: member-report']);
  });
});

describe('ControlEndpoint heartbeat', () => {
  afterEach(() => vi.useRealTimers());

  it('pings every CONTROL_HEARTBEAT_MS; pings keep the link up and reach no handler', () => {
    vi.useFakeTimers();
    const { conn, sent, receive } = fakeConnection('host');
    const link = new PeerLink(conn);
    const worker = new ControlEndpoint(link, FROM_HOST);
    const got: string[] = [];
    worker.onMessage((m) => got.push(m.type));
    worker.onError((e) => got.push(e.code));
    for (let t = 0; t < 3 * CONTROL_SILENCE_MS; t += CONTROL_HEARTBEAT_MS) {
      receive({ type: 'ping' });
      vi.advanceTimersByTime(CONTROL_HEARTBEAT_MS);
    }
    expect(link.isClosed).toBe(false);
    expect(got).toEqual([]);
    expect(sent.length).toBe(Math.ceil((3 * CONTROL_SILENCE_MS) / CONTROL_HEARTBEAT_MS));
    expect(sent.every((m) => JSON.stringify(m) === '{"type":"ping"}')).toBe(true);
    receive({ type: 'ping', extra: 1 });
    expect(got).toEqual(['bad-message']);
    link.close();
  });

  it('closes a link that stays silent for CONTROL_SILENCE_MS, naming how long, and stops pinging', () => {
    vi.useFakeTimers();
    const { conn, sent } = fakeConnection('w1');
    const link = new PeerLink(conn);
    new ControlEndpoint(link, FROM_MEMBER);
    const reasons: string[] = [];
    link.onClose((r) => reasons.push(r));
    vi.advanceTimersByTime(CONTROL_SILENCE_MS);
    expect(link.isClosed).toBe(false);
    vi.advanceTimersByTime(CONTROL_HEARTBEAT_MS);
    const firstTickPast = (Math.floor(CONTROL_SILENCE_MS / CONTROL_HEARTBEAT_MS) + 1) * CONTROL_HEARTBEAT_MS;
    expect(reasons).toEqual([`silent for ${firstTickPast} ms (limit ${CONTROL_SILENCE_MS} ms)`]);
    const pings = sent.length;
    vi.advanceTimersByTime(10 * CONTROL_HEARTBEAT_MS);
    expect(sent.length).toBe(pings);
  });

  it('any message counts as a sign of life, not only pings', () => {
    vi.useFakeTimers();
    const { conn, receive } = fakeConnection('w1');
    const link = new PeerLink(conn);
    new ControlEndpoint(link, FROM_MEMBER).onMessage(() => undefined);
    for (let t = 0; t < 2 * CONTROL_SILENCE_MS; t += 1_000) {
      receive({ type: 'claim', meshJobId: 1, rank: 0 });
      vi.advanceTimersByTime(1_000);
    }
    expect(link.isClosed).toBe(false);
    link.close();
  });
});
