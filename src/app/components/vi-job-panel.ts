import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { RenderJobState } from '../job/render-view.js';
import type { PartitionChoice } from '../job/job-members.js';
import { CFG_SPLIT_COST, DEFAULT_EXCHANGE, EXCHANGE_CHOICES, parseScheduleText, SAMPLER_NAMES, type RenderSettings, type SamplerName } from '../job/render-spec.js';
import type { PromptCheck } from '../../model/prompt-tokenizer.js';
import { fmtSpeed } from './member-engine-text.js';
import './vi-frame-preview.js';
import './vi-step-chart.js';

/** What the form asks for: the settings, where to compute and how to share the frames. */
export class JobStartEvent extends Event {
  static readonly eventName = 'job-start';
  constructor(
    readonly settings: RenderSettings,
    readonly computeHere: boolean,
    readonly partition: PartitionChoice,
  ) {
    super(JobStartEvent.eventName, { bubbles: true, composed: true });
  }
}

/** "compute in this tab" changed: ticked, the host loads the model and measures its speed at once. */
export class ComputeHereEvent extends Event {
  static readonly eventName = 'compute-here';
  constructor(readonly computeHere: boolean) {
    super(ComputeHereEvent.eventName, { bubbles: true, composed: true });
  }
}

export class JobCancelEvent extends Event {
  static readonly eventName = 'job-cancel';
  constructor() {
    super(JobCancelEvent.eventName, { bubbles: true, composed: true });
  }
}

export interface JobDefaults {
  readonly steps: number;
  readonly guidance: number;
  readonly sampler: SamplerName;
  /** The package's export scale (render-spec.ts defaultExportScale: small models are upscaled, real ones not). */
  readonly exportScale: number;
  /** Unknown words (word-level tokenizers), or the token count and what is cut off (BPE). */
  readonly checkPrompt: (prompt: string) => PromptCheck;
}

const fmtMs = (ms: number | undefined) => (ms === undefined ? '–' : ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`);

/** The render job: prompt schedule editor and settings, Start/Cancel, per-rank progress and previews, step chart, ETA, the video. */
@customElement('vi-job-panel')
export class ViJobPanel extends LitElement {
  static override styles = css`
    :host { display: block; }
    label { display: inline-block; margin: 0.2rem 0.8rem 0.2rem 0; }
    textarea { width: 100%; min-height: 4rem; font-family: monospace; }
    input[type='number'] { width: 5.5rem; }
    .error, .unknown { color: #b00020; }
    .ranks { display: flex; flex-wrap: wrap; gap: 0.75rem; margin: 0.5rem 0; }
    .rank { border: 1px solid #ddd; border-radius: 4px; padding: 0.4rem; font-size: 0.85rem; }
    progress { width: 96px; display: block; }
    video { max-width: 100%; background: #000; display: block; margin: 0.5rem 0; }
  `;

  @property({ attribute: false }) job: RenderJobState = { phase: 'idle', ranks: [], stepStats: [] };
  @property({ attribute: false }) defaults: JobDefaults | null = null;
  @property({ type: Number }) readyWorkers = 0;
  /** Every member that would compute has reported a measured speed (the partition's default then). */
  @property({ type: Boolean }) allSpeedsReported = false;

  @state() private _schedule = '0: a red circle moving right on a black background';
  @state() private _frames = 48;
  @state() private _steps: number | null = null;
  @state() private _guidance: number | null = null;
  @state() private _seed = 0;
  @state() private _sampler: SamplerName | null = null;
  @state() private _exchange = DEFAULT_EXCHANGE;
  @state() private _cfgSplit = false;
  /** null: the package's default. */
  @state() private _scale: number | null = null;
  @state() private _computeHere = false;
  /** null: the default, by speed when every member reported one (resolved at Start, after waiting). */
  @state() private _partition: 'speed' | 'even' | null = null;

  override render() {
    const d = this.defaults;
    const j = this.job;
    const parsed = parseScheduleText(this._schedule, this._frames);
    const checks = d ? parsed.entries.map((e) => d.checkPrompt(e.prompt)) : [];
    const unknown = [...new Set(checks.flatMap((c) => c.unknownWords))];
    const cut = checks.flatMap((c, i) => (c.truncatedText ? [`line ${i + 1}: ${c.tokenCount} tokens, the model reads ${c.maxTokens}; “${c.truncatedText}” is cut off`] : []));
    const busy = j.phase === 'preparing' || j.phase === 'running' || j.phase === 'muxing';
    const canStart = !!d && !busy && parsed.errors.length === 0 && unknown.length === 0 && (this._computeHere || this.readyWorkers > 0);
    return html`
      <div>
        <label style="display:block">Prompt schedule (one line per change: <code>FRAME: prompt</code>)
          <textarea data-testid="prompt-schedule" .value=${this._schedule} @input=${(e: Event) => (this._schedule = (e.target as HTMLTextAreaElement).value)}></textarea>
        </label>
        ${parsed.errors.map((e) => html`<div class="error">${e}</div>`)}
        ${unknown.length ? html`<div class="unknown" data-testid="unknown-words">unknown to the model: ${unknown.join(', ')}</div>` : ''}
        ${checks.length && !unknown.length ? html`<div data-testid="prompt-tokens">tokens per line: ${checks.map((c) => `${c.tokenCount}/${c.maxTokens}`).join(', ')}</div>` : ''}
        ${cut.map((c) => html`<div class="unknown" data-testid="prompt-truncated">${c}</div>`)}
        <label>frames <input data-testid="frames" type="number" min="1" .value=${String(this._frames)} @input=${(e: Event) => (this._frames = num(e, this._frames))} /></label>
        <label>steps <input data-testid="steps" type="number" min="1" max="1000" .value=${String(this._steps ?? d?.steps ?? 25)} @input=${(e: Event) => (this._steps = num(e, 1))} /></label>
        <label>guidance <input data-testid="guidance" type="number" step="0.5" .value=${String(this._guidance ?? d?.guidance ?? 7.5)} @input=${(e: Event) => (this._guidance = num(e, 0))} /></label>
        <label>seed <input data-testid="seed" type="number" min="0" .value=${String(this._seed)} @input=${(e: Event) => (this._seed = num(e, 0))} /></label>
        <label>sampler <select data-testid="sampler" @change=${(e: Event) => (this._sampler = (e.target as HTMLSelectElement).value as SamplerName)}>
          ${SAMPLER_NAMES.map((s) => html`<option value=${s} ?selected=${(this._sampler ?? d?.sampler ?? 'ddim') === s}>${s}</option>`)}
        </select></label>
        <label title="how the tabs exchange context (measured cost per mode: docs/performance.md)">exchange <select data-testid="exchange-mode" @change=${(e: Event) => (this._exchange = (e.target as HTMLSelectElement).value)}>
          ${EXCHANGE_CHOICES.map((c) => html`<option value=${c.name} ?selected=${this._exchange === c.name}>${c.name}: ${c.cost}</option>`)}
        </select></label>
        <label title=${CFG_SPLIT_COST}><input data-testid="cfg-split" type="checkbox" .checked=${this._cfgSplit} @change=${(e: Event) => (this._cfgSplit = (e.target as HTMLInputElement).checked)} /> split guidance over pairs of tabs</label>
        <label>export scale ×<input data-testid="export-scale" type="number" min="1" max="16" .value=${String(this._scale ?? d?.exportScale ?? 1)} @input=${(e: Event) => (this._scale = num(e, 1))} /></label>
        <label title="with workers: this tab renders one clip of the mesh too; without: the whole video alone (one-tab mode)"><input data-testid="compute-here" type="checkbox" .checked=${this._computeHere} @change=${this._onComputeHere} /> compute in this tab too${this.readyWorkers === 0 ? ' (one-tab mode)' : ''}</label>
        <label>partition <select data-testid="partition" @change=${(e: Event) => (this._partition = (e.target as HTMLSelectElement).value as 'speed' | 'even')}>
          ${(['speed', 'even'] as const).map((p) => html`<option value=${p} ?selected=${(this._partition ?? (this.allSpeedsReported ? 'speed' : 'even')) === p}>${p === 'speed' ? 'by measured speed' : 'even'}</option>`)}
        </select></label>
        <div>
          <button data-testid="start-job" ?disabled=${!canStart} @click=${this._onStart}>Start</button>
          <button data-testid="cancel-job" ?disabled=${!busy} @click=${() => this.dispatchEvent(new JobCancelEvent())}>Cancel</button>
          <span data-testid="render-phase" data-phase=${j.phase}>${j.phase}${j.error ? html`: <span class="error" data-testid="render-error">${j.error}</span>` : ''}</span>
          ${busy ? html`<span data-testid="eta"> · elapsed ${fmtMs(j.elapsedMs)} · ETA ${fmtMs(j.etaMs)}</span>` : ''}
          ${busy && j.savedStep ? html`<span data-testid="saved-step" data-step=${j.savedStep}> · saved in this browser after step ${j.savedStep}</span>` : ''}
        </div>
        ${j.waitingFor?.length ? html`<div data-testid="waiting-for">Start waits for ${j.waitingFor.join(', ')}…</div>` : ''}
        ${j.leftOut?.length ? html`<div class="error" data-testid="left-out">left out: ${j.leftOut.join('; ')}</div>` : ''}
        ${j.awaitingLoss ? html`<div data-testid="awaiting-loss">a member may be lost (${j.awaitingLoss}); waiting for its link to close, then the job restarts without it…</div>` : ''}
        ${j.restarts?.length ? html`<div data-testid="restarts">${j.restarts.map((r) => html`<div>${r} (the video is the same)</div>`)}</div>` : ''}
        ${j.checkpointProblems?.length ? html`<div class="error" data-testid="checkpoint-problems">checkpoints refused (the job goes on, but cannot resume from them): ${j.checkpointProblems.join('; ')}</div>` : ''}
        ${j.partitionBy ? html`<div data-testid="partition-by" data-by=${j.partitionBy}>frames shared ${j.partitionBy === 'speed' ? 'by measured speed' : 'evenly'}</div>` : ''}
      </div>
      ${j.ranks.length ? html`<div class="ranks">${j.ranks.map((r) => html`<div class="rank" data-testid="rank-progress" data-rank=${r.rank}>
          <div><strong>rank ${r.rank}</strong> ${r.name} · frames [${r.range.start}, ${r.range.end})${r.framesPerSecond !== undefined ? ` · ${fmtSpeed(r.framesPerSecond)}` : ''}</div>
          <div>${r.provider ?? 'loading model…'}${r.fallbackReason ? html` <span class="error">${r.fallbackReason}</span>` : ''}</div>
          <progress max=${j.steps ?? 1} .value=${r.stepsDone}></progress>
          <div>step ${r.stepsDone}/${j.steps}${r.lastStepMs !== undefined ? ` · ${r.lastStepMs.toFixed(0)} ms` : ''}${r.clipReceived ? ' · clip received' : ''}</div>
          ${r.preview ? html`<vi-frame-preview .frame=${r.preview} title=${`x0 of frame ${r.preview.globalFrame}`}></vi-frame-preview>` : ''}
        </div>`)}</div>` : ''}
      ${j.stepStats.length ? html`<vi-step-chart .stats=${j.stepStats}></vi-step-chart>` : ''}
      ${j.video ? html`<div data-testid="video-result" data-frames=${j.video.frames} data-mime=${j.video.mimeType}>
          <video controls loop autoplay muted src=${j.video.url} data-testid="video-player"></video>
          <a data-testid="download" href=${j.video.url} download=${j.video.fileName}><button>Download ${j.video.fileName}</button></a>
          ${j.video.frames} frames, ${j.video.width}×${j.video.height}, ${j.video.codecString}, ${(j.video.bytes / 1024).toFixed(0)} KiB, in ${fmtMs(j.elapsedMs)}
        </div>` : ''}
    `;
  }

  private _onStart(): void {
    const d = this.defaults;
    const parsed = parseScheduleText(this._schedule, this._frames);
    this.dispatchEvent(new JobStartEvent({
      schedule: parsed.entries, totalFrames: this._frames, steps: this._steps ?? d?.steps ?? 25, guidanceScale: this._guidance ?? d?.guidance ?? 7.5,
      seed: this._seed, sampler: this._sampler ?? d?.sampler ?? 'ddim', exportScale: this._scale ?? d?.exportScale ?? 1, exchange: this._exchange,
      ...(this._cfgSplit && { cfgSplit: true }),
    }, this._computeHere, this._partition ?? 'auto'));
  }

  private _onComputeHere(e: Event): void {
    this._computeHere = (e.target as HTMLInputElement).checked;
    this.dispatchEvent(new ComputeHereEvent(this._computeHere));
  }
}

function num(e: Event, fallback: number): number {
  const v = Number((e.target as HTMLInputElement).value);
  return Number.isFinite(v) ? v : fallback;
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-job-panel': ViJobPanel;
  }
  interface HTMLElementEventMap {
    'job-start': JobStartEvent;
    'job-cancel': JobCancelEvent;
    'compute-here': ComputeHereEvent;
  }
}
