import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import './components/vi-adapter-card.js';
import './components/vi-pair-table.js';
import './components/vi-frame-preview.js';
import { backendName, computeName, fmtSpeed } from './components/member-engine-text.js';
import { EngineHandle, providersFromUrl } from './job/engine-handle.js';
import { EngineReadiness } from './job/engine-readiness.js';
import { DEFAULT_PACKAGE_URL } from './job/render-spec.js';
import { RankRunner, WORKER_GRAPHS } from './job/rank-runner.js';
import { WorkerReadiness } from './job/worker-readiness.js';
import { ServiceController } from './controllers/service-controller.js';
import { HOST_RETURN_WINDOW_MS, WorkerService, type WorkerPhase } from './services/worker-service.js';

const PHASE_TEXT = {
  joining: 'joining the room…',
  connecting: 'connecting to the signaling server and the host…',
  ready: 'connected; waiting for the host to start a job',
  'forming-mesh': 'connecting to the other workers…',
  'in-mesh': 'in the mesh',
  'host-lost': `the host went away; waiting up to ${HOST_RETURN_WINDOW_MS / 1000} s for it to come back (a reloaded host page reopens this room)…`,
  failed: 'failed',
} as const satisfies Record<WorkerPhase, string>;

/**
 * A worker tab: connection state, rank, GPU adapter, the model (loaded and timed as soon as the
 * tab has joined: "loading model… / ready on WebGPU|WASM at N frames/s") and its part of a render.
 * Renders WorkerService, EngineReadiness and RankRunner state.
 */
@customElement('vi-worker')
export class ViWorker extends LitElement {
  static override styles = css`
    :host { display: block; max-width: 48rem; margin: 1rem auto; font-family: system-ui, sans-serif; }
    section { border: 1px solid #ddd; border-radius: 6px; padding: 0.75rem 1rem; margin-bottom: 1rem; }
    h2 { font-size: 1.05rem; margin: 0 0 0.5rem; }
    .error { color: #b00020; }
    pre { max-height: 8rem; overflow: auto; background: #f6f6f6; padding: 0.5rem; font-size: 0.8rem; }
  `;

  @property() room = '';
  @property() token = '';
  @property() name = `worker-${Math.random().toString(36).slice(2, 6)}`;
  /** The package to load on joining (the join link's `model=`, see package-link.ts). */
  @property() packageUrl = DEFAULT_PACKAGE_URL;

  service: WorkerService | null = null;
  private _ctl: ServiceController<WorkerService> | null = null;
  private readonly engine = new EngineHandle(providersFromUrl());
  /** The model loaded and timed before any job (the host weights the partition by the speed). */
  readonly readiness = new EngineReadiness(this.engine, WORKER_GRAPHS);
  /** This tab's rank of render jobs: engine worker, clip, encode (src/app/job/rank-runner.ts). */
  readonly renderJob = new RankRunner(this.engine, WORKER_GRAPHS);
  private readonly _jobCtl = new ServiceController(this, this.renderJob);
  private readonly _readyCtl = new ServiceController(this, this.readiness);
  private _reporter: WorkerReadiness | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this.service) {
      this.service = new WorkerService(this.name);
      this._ctl = new ServiceController(this, this.service); // addController connects it
      this.service.renderer = this.renderJob;
      void this.service.start(this.room, this.token);
    }
    this._reporter ??= new WorkerReadiness(this.service, this.readiness, this.packageUrl);
    window.addEventListener('pagehide', this._onPageHide);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this._reporter?.dispose();
    this._reporter = null;
    window.removeEventListener('pagehide', this._onPageHide);
  }

  /** A closing tab says goodbye: the others see it gone at once, not after the heartbeat timeout. */
  private readonly _onPageHide = (): void => {
    void this.service?.leave();
  };

  override render() {
    const s = this._ctl?.service.state;
    if (!s) return html``;
    return html`
      <h1>Video-Infinity: worker</h1>
      <section>
        <h2>Connection</h2>
        <p data-testid="worker-phase" data-phase=${s.phase}>${PHASE_TEXT[s.phase]}</p>
        ${s.error ? html`<p class="error" data-testid="worker-error">${s.error}</p>` : ''}
        <p>rank: <strong data-testid="worker-rank">${s.rank === undefined ? '–' : `${s.rank} of ${s.worldSize}`}</strong></p>
      </section>
      <section>
        <h2>GPU</h2>
        <vi-adapter-card .adapter=${s.adapter}></vi-adapter-card>
      </section>
      ${this._modelSection()}
      ${this._renderSection()}
      ${s.meshCheck?.length ? html`<section><h2>Mesh check (my pairs)</h2><vi-pair-table .pairs=${s.meshCheck}></vi-pair-table></section>` : ''}
      ${s.peerEvents.length ? html`<section><h2>Peer events</h2><pre data-testid="peer-events">${s.peerEvents.join('\n')}</pre></section>` : ''}
    `;
  }

  private _modelSection() {
    const m = this._readyCtl.service.state;
    if (m.phase === 'idle') return '';
    const pct = m.totalBytes ? ` ${Math.floor((100 * (m.loadedBytes ?? 0)) / m.totalBytes)}% of ${(m.totalBytes / 2 ** 20).toFixed(1)} MiB` : '';
    const text =
      m.phase === 'loading' ? `loading model…${pct}`
      : m.phase === 'measuring' ? `model loaded on ${backendName(m.provider)} in ${((m.loadMs ?? 0) / 1000).toFixed(1)} s; measuring speed…`
      : m.phase === 'ready' ? `ready on ${backendName(m.provider)}`
      : 'the model did not load';
    return html`<section>
      <h2>Model</h2>
      <p data-testid="model-state" data-phase=${m.phase} data-compute=${m.compute ?? ''}>${text}</p>
      ${m.compute ? html`<p data-testid="model-compute">UNet: ${computeName(m.compute)}</p>` : ''}
      ${m.speed ? html`<p data-testid="model-speed">speed: <strong>${fmtSpeed(m.speed.framesPerSecond)}</strong> of UNet work (one ${m.speed.frames}-frame call in ${m.speed.unetMs.toFixed(0)} ms after a warm-up)</p>` : ''}
      ${m.fallbackReason ? html`<p class="error" data-testid="model-fallback">${m.fallbackReason}</p>` : ''}
      ${m.error ? html`<p class="error" data-testid="model-error">${m.error}</p>` : ''}
      ${m.phase === 'failed' ? html`<button data-testid="model-retry" @click=${this._retryModel}>Load the model again</button>` : ''}
    </section>`;
  }

  /** A failed load (a file the server got wrong, the network gone) is retried here, without leaving the room. */
  private readonly _retryModel = (): void => {
    void this.readiness.prepare(this.packageUrl);
  };

  private _renderSection() {
    const j = this._jobCtl.service.state;
    if (j.phase === 'idle') return '';
    return html`<section>
      <h2>Render</h2>
      <p data-testid="render-phase" data-phase=${j.phase}>${JOB_TEXT[j.phase]}${j.range ? ` · frames [${j.range.start}, ${j.range.end})` : ''}</p>
      ${j.provider ? html`<p data-testid="engine-backend">engine: ${j.provider}${j.fallbackReason ? html` <span class="error">${j.fallbackReason}</span>` : ''}</p>` : ''}
      ${j.steps ? html`<p><progress max=${j.steps} .value=${j.step ?? 0}></progress> step ${j.step ?? 0}/${j.steps}${j.lastStepMs !== undefined ? ` · ${j.lastStepMs.toFixed(0)} ms (network wait ${j.lastWaitMs?.toFixed(0)} ms)` : ''}</p>` : ''}
      ${j.preview ? html`<vi-frame-preview .frame=${j.preview} title=${`x0 of frame ${j.preview.globalFrame}`}></vi-frame-preview>` : ''}
      ${j.error ? html`<p class="error" data-testid="render-error">${j.error}</p>` : ''}
    </section>`;
  }
}

const JOB_TEXT = {
  idle: 'no render yet',
  'loading-model': 'loading the model…',
  rendering: 'rendering my clip',
  encoding: 'encoding my clip',
  sending: 'sending my clip to the host',
  done: 'clip sent',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;

declare global {
  interface HTMLElementTagNameMap {
    'vi-worker': ViWorker;
  }
}
