/**
 * The host render job's decisions, as a pure transition: (state, event) → (state, commands).
 * Nothing here waits, times or talks to a tab; `HostRenderJob` feeds it what happened (a member
 * ready, a step, a clip, a member gone, a failure) and carries out the commands it returns (start
 * an attempt, stop one, mux, arm the loss timer, settle the caller's promise). So every rule of the
 * job's life — when it restarts without a lost member and from which step, when a failure waits
 * for the control links to say who is gone, when a late message no longer counts — is unit-tested
 * like a scheduler (render-machine.test.ts).
 */
import type { JobMember } from './job-members.js';
import { computingMembers, LOSS_CODES, lostBeforeDelivery, survivors } from './job-members.js';
import type { RankView, RenderJobState, RenderVideo, StepStat } from './render-view.js';

/** The job's state: what the dashboard shows, and who computes the current attempt. */
export interface RenderMachine {
  readonly view: RenderJobState;
  /** The current attempt's members in rank order (peerId null: this tab). */
  readonly members: readonly JobMember[];
  /** This tab computes a clip (or the whole video alone). */
  readonly hostComputes: boolean;
  /** Each clip's guidance branches run on a pair of members (never alone). */
  readonly cfgSplit: boolean;
  /** A failure that may mean a lost member waits for the control links (the loss timer runs). */
  readonly awaitingLoss: boolean;
}

/** A member that left the job: its control link closed, for `reason`. */
export interface GoneMember {
  readonly peerId: string;
  readonly name: string;
  readonly reason: string;
}

export type RenderEvent =
  | { readonly type: 'start'; readonly renderJobId: number; readonly totalFrames: number; readonly steps: number; readonly computeHere: boolean; readonly cfgSplit?: boolean; readonly now: number }
  /** While Start waits for members still loading or measuring: who, in words. */
  | { readonly type: 'waiting'; readonly waitingFor: readonly string[] }
  /** Every member at Start is ready or failed: `ready` in rank order, `leftOut` with why; resume after `resumeStep`. */
  | { readonly type: 'members-ready'; readonly ready: readonly JobMember[]; readonly leftOut: readonly string[]; readonly resumeStep: number | null; readonly resumedSaved: boolean }
  /** An attempt began: its ranks (frames, names) and how the frames were shared. */
  | { readonly type: 'attempt-running'; readonly renderJobId: number; readonly mode: 'mesh' | 'alone'; readonly ranks: readonly RankView[]; readonly partitionBy?: 'speed' | 'even' }
  | { readonly type: 'rank'; readonly renderJobId: number; readonly rank: number; readonly patch: Partial<Omit<RankView, 'rank' | 'range' | 'clipReceived'>> }
  | { readonly type: 'stats'; readonly stepStats: readonly StepStat[]; readonly etaMs: number; readonly now: number }
  /** Rank `rank`'s encoded clip is in and checked. */
  | { readonly type: 'clip'; readonly renderJobId: number; readonly rank: number }
  /** Members of the running mesh whose control links closed; `connected`: workers still connected; the next attempt would get `freshId`. */
  | { readonly type: 'members-gone'; readonly renderJobId: number; readonly gone: readonly GoneMember[]; readonly connected: readonly string[]; readonly resumableStep: number | null; readonly freshId: number }
  /** The attempt failed with `code` (a member's error, or this tab's rank); `anyoneGone`: some member's control link is closed. */
  | { readonly type: 'attempt-failed'; readonly renderJobId: number; readonly error: string; readonly code?: string; readonly anyoneGone: boolean }
  /** The loss timer ran out and no control link said who was lost. */
  | { readonly type: 'loss-timeout' }
  | { readonly type: 'video'; readonly video: RenderVideo; readonly now: number }
  | { readonly type: 'saved'; readonly step: number | undefined }
  /** A checkpoint or storage problem: the job goes on, but cannot resume from it. */
  | { readonly type: 'problem'; readonly problem: string }
  | { readonly type: 'cancel'; readonly reason: string }
  | { readonly type: 'fail'; readonly error: string; readonly now: number };

export type RenderCommand =
  /** Start an attempt: the mesh of `members` (or this tab alone), resuming after `resumeStep` or from step 0. */
  | { readonly kind: 'begin-attempt'; readonly renderJobId: number; readonly mode: 'mesh' | 'alone'; readonly members: readonly JobMember[]; readonly resumeStep: number | null }
  /** Stop the running attempt everywhere: its members (cancelled, or their job failed) and this tab's engine. */
  | { readonly kind: 'stop-attempt'; readonly how: 'cancel' | 'fail'; readonly reason: string; readonly mode?: 'mesh' | 'alone'; readonly hostComputes: boolean }
  | { readonly kind: 'mux' }
  | { readonly kind: 'arm-loss-timer' }
  | { readonly kind: 'disarm-loss-timer' }
  /** The mesh job is over on the host's side (HostService.finishJob). */
  | { readonly kind: 'end-mesh-job' }
  /** The measured speeds of this job's members, for the next partition. */
  | { readonly kind: 'note-speeds' }
  | { readonly kind: 'discard-saved' }
  /** Resolve (no error) or reject the caller of start. */
  | { readonly kind: 'settle'; readonly error?: string };

export interface Transition {
  readonly state: RenderMachine;
  readonly commands: readonly RenderCommand[];
}

export const IDLE: RenderMachine = { view: { phase: 'idle', ranks: [], stepStats: [] }, members: [], hostComputes: false, cfgSplit: false, awaitingLoss: false };

export function isBusy(view: RenderJobState): boolean {
  return view.phase === 'preparing' || view.phase === 'running' || view.phase === 'muxing';
}

const same = (state: RenderMachine): Transition => ({ state, commands: [] });
const withView = (s: RenderMachine, patch: Partial<RenderJobState>): RenderMachine => ({ ...s, view: { ...s.view, ...patch } });

/** Whether attempt `renderJobId` is the one running: what it reports still counts. */
export const isRunningAttempt = (view: RenderJobState, renderJobId: number): boolean => view.phase === 'running' && view.renderJobId === renderJobId;
const current = (s: RenderMachine, renderJobId: number) => isRunningAttempt(s.view, renderJobId);

export function transition(s: RenderMachine, e: RenderEvent): Transition {
  switch (e.type) {
    case 'start':
      return same({ view: { phase: 'preparing', renderJobId: e.renderJobId, totalFrames: e.totalFrames, steps: e.steps, ranks: [], stepStats: [], startedAtMs: e.now }, members: [], hostComputes: e.computeHere, cfgSplit: e.cfgSplit === true, awaitingLoss: false });
    case 'waiting':
      if (s.view.phase !== 'preparing' || e.waitingFor.join() === s.view.waitingFor?.join()) return same(s);
      return same(withView(s, { waitingFor: e.waitingFor }));
    case 'members-ready':
      return membersReady(s, e);
    case 'attempt-running':
      if (s.view.renderJobId !== e.renderJobId || !isBusy(s.view)) return same(s);
      return same(withView(s, { mode: e.mode, phase: 'running', ranks: e.ranks, ...(e.partitionBy && { partitionBy: e.partitionBy }) }));
    case 'rank':
      if (!current(s, e.renderJobId)) return same(s);
      return same(withView(s, { ranks: s.view.ranks.map((r) => (r.rank === e.rank ? { ...r, ...e.patch } : r)) }));
    case 'stats':
      return same(withView(s, { stepStats: e.stepStats, etaMs: e.etaMs, elapsedMs: e.now - (s.view.startedAtMs ?? 0) }));
    case 'clip': {
      if (!current(s, e.renderJobId)) return same(s);
      const ranks = s.view.ranks.map((r) => (r.rank === e.rank ? { ...r, clipReceived: true } : r));
      if (!ranks.every((r) => r.clipReceived)) return same(withView(s, { ranks }));
      return { state: withView(s, { ranks, phase: 'muxing' }), commands: [{ kind: 'mux' }] };
    }
    case 'members-gone':
      return membersGone(s, e);
    case 'attempt-failed':
      if (!current(s, e.renderJobId)) return same(s);
      if (!LOSS_CODES.has(e.code ?? '')) return fail(s, e.error);
      // Someone's control link closed: members-gone restarts without them. Else wait for one to.
      if (e.anyoneGone || s.awaitingLoss) return same(s);
      return { state: { ...withView(s, { awaitingLoss: e.error }), awaitingLoss: true }, commands: [{ kind: 'arm-loss-timer' }] };
    case 'loss-timeout':
      if (!s.awaitingLoss || !isBusy(s.view)) return same(s);
      return fail(s, `${s.view.awaitingLoss} (no member's control link closed in time)`);
    case 'video': {
      if (s.view.phase !== 'muxing') return same(s);
      const view: RenderJobState = { ...s.view, phase: 'done', etaMs: 0, elapsedMs: e.now - (s.view.startedAtMs ?? 0), video: e.video };
      const mesh: RenderCommand[] = s.view.mode === 'mesh' ? [{ kind: 'end-mesh-job' }, { kind: 'note-speeds' }] : [];
      return { state: { ...s, view }, commands: [{ kind: 'discard-saved' }, ...mesh, { kind: 'settle' }] };
    }
    case 'saved':
      return same(withView(s, { savedStep: e.step }));
    case 'problem':
      return same(withView(s, { checkpointProblems: [...(s.view.checkpointProblems ?? []), e.problem].slice(-5) }));
    case 'cancel': {
      if (!isBusy(s.view)) return same(s);
      const stop: RenderCommand = { kind: 'stop-attempt', how: 'cancel', reason: e.reason, mode: s.view.mode, hostComputes: s.hostComputes };
      const state = { ...withView(s, { phase: 'cancelled', error: e.reason, awaitingLoss: undefined }), awaitingLoss: false };
      return { state, commands: [{ kind: 'discard-saved' }, { kind: 'disarm-loss-timer' }, stop, { kind: 'settle', error: `cancelled: ${e.reason}` }] };
    }
    case 'fail':
      return fail(s, e.error, e.now);
  }
}

function fail(s: RenderMachine, error: string, now?: number): Transition {
  if (!isBusy(s.view)) return same(s);
  const elapsed = now !== undefined ? { elapsedMs: now - (s.view.startedAtMs ?? 0) } : {};
  const state = { ...withView(s, { phase: 'failed', error, awaitingLoss: undefined, ...elapsed }), awaitingLoss: false };
  const stop: RenderCommand = { kind: 'stop-attempt', how: 'fail', reason: error, mode: s.view.mode, hostComputes: s.hostComputes };
  return { state, commands: [{ kind: 'disarm-loss-timer' }, stop, { kind: 'settle', error }] };
}

/** Every member at Start is ready or failed: render on this tab alone, on the mesh, or say why not. */
function membersReady(s: RenderMachine, e: Extract<RenderEvent, { type: 'members-ready' }>): Transition {
  if (s.view.phase !== 'preparing') return same(s);
  const { members, idle, problem } = computingMembers(e.ready, s.cfgSplit);
  const workers = members.filter((m) => m.peerId !== null);
  const restarts = e.resumedSaved && e.resumeStep !== null ? [`resumed the unfinished render saved in this browser after step ${e.resumeStep}/${s.view.steps}`] : s.view.restarts;
  const leftOut = [...e.leftOut, ...idle.map((m) => `${m.name}: idle (a guidance split computes on pairs of tabs)`)];
  const next: RenderMachine = { ...withView(s, { waitingFor: undefined, ...(leftOut.length && { leftOut }), ...(restarts && { restarts }) }), members };
  if (problem) return fail(next, problem);
  if (workers.length === 0 && !s.hostComputes) {
    const why = e.leftOut.length
      ? 'no worker could load the model (see "left out"); fix or close those tabs, or tick "compute in this tab"'
      : 'no workers are connected: open the join link in worker tabs, or tick "compute in this tab"';
    return fail(next, why);
  }
  const mode = workers.length === 0 ? 'alone' : 'mesh';
  return { state: next, commands: [{ kind: 'begin-attempt', renderJobId: s.view.renderJobId!, mode, members, resumeStep: e.resumeStep }] };
}

/**
 * Members of the running mesh are gone. Those whose clip had not arrived are lost: the job stops
 * everywhere and starts again on the others, from the latest step whose checkpoints every rank
 * sent (else from step 0): any partition gives the same video, and a checkpoint is exactly the
 * state after its step. A gone member whose clip had arrived is needed no more: the job goes on.
 */
function membersGone(s: RenderMachine, e: Extract<RenderEvent, { type: 'members-gone' }>): Transition {
  if (!current(s, e.renderJobId) || s.view.mode !== 'mesh') return same(s);
  const rankOf = (peerId: string) => s.members.findIndex((m) => m.peerId === peerId);
  const lost = lostBeforeDelivery(e.gone, (peerId) => s.view.ranks[rankOf(peerId)]?.clipReceived === true);
  if (lost.length === 0) {
    if (!s.awaitingLoss || e.gone.length === 0) return same(s);
    return { state: { ...withView(s, { awaitingLoss: undefined }), awaitingLoss: false }, commands: [{ kind: 'disarm-loss-timer' }] };
  }
  const connected = new Set(e.connected);
  const alive = survivors(s.members, new Set(lost.map((l) => l.peerId)), (peerId) => connected.has(peerId));
  const { members, idle, problem } = computingMembers(alive, s.cfgSplit);
  const atStep = Math.max(0, ...s.view.ranks.map((r) => r.stepsDone));
  const who = lost.map((l) => `${l.name} (${l.reason})`).join(', ');
  // survivors() keeps this tab when it computes: with no worker left it renders the video alone.
  if (alive.length === 0) return fail(s, `lost ${who} at step ${atStep}/${s.view.steps}: no member left to render`);
  if (problem) return fail(s, `lost ${who} at step ${atStep}/${s.view.steps}: ${problem}`);
  const resumeStep = e.resumableStep !== null && e.resumableStep >= 1 ? e.resumableStep : null;
  const how = resumeStep !== null ? `resumed after step ${resumeStep}` : 'restarted from step 0';
  const resting = idle.length ? ` (${idle.map((m) => m.name).join(', ')} idle: a guidance split computes on pairs)` : '';
  const note = `${who} lost at step ${atStep}/${s.view.steps}; ${how} on ${members.length} member${members.length === 1 ? '' : 's'}${resting}`;
  const view: RenderJobState = { ...s.view, renderJobId: e.freshId, ranks: [], stepStats: [], awaitingLoss: undefined, restarts: [...(s.view.restarts ?? []), note] };
  const reason = `lost ${lost.map((l) => l.name).join(', ')}: restarting on the others`;
  const mode = members.some((m) => m.peerId !== null) ? 'mesh' : 'alone';
  return {
    state: { view, members, hostComputes: s.hostComputes, cfgSplit: s.cfgSplit, awaitingLoss: false },
    commands: [
      { kind: 'disarm-loss-timer' },
      { kind: 'stop-attempt', how: 'cancel', reason, mode: 'mesh', hostComputes: s.hostComputes },
      { kind: 'begin-attempt', renderJobId: e.freshId, mode, members, resumeStep },
    ],
  };
}
