import { LitElement, css, html } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import './components/vi-copy-link.js';
import './components/vi-job-panel.js';
import type { ComputeHereEvent, JobDefaults, JobCancelEvent, JobStartEvent } from './components/vi-job-panel.js';
import './components/vi-member-table.js';
import './components/vi-package-list.js';
import './components/vi-pair-table.js';
import { ServiceController } from './controllers/service-controller.js';
import { HostService } from './services/host-service.js';
import { recallHostRoom } from './services/host-room-memory.js';
import { fetchPackageList, type ListedPackage } from './services/package-list.js';
import { HostRenderJob } from './job/host-job.js';
import { THIS_TAB } from './job/render-attempt.js';
import { toMemberEngine } from './job/engine-readiness.js';
import { joinLinkWithPackage } from './job/package-link.js';
import { DEFAULT_PACKAGE_URL, defaultExportScale, type SamplerName } from './job/render-spec.js';
import { summarizePackage } from '../model/package-summary.js';
import { checkPrompt } from '../model/prompt-tokenizer.js';
import { discardUnfinishedRender, loadUnfinishedRender, type SavedRender } from './job/saved-render.js';

/**
 * The host dashboard: room and join link, members (adapter, model readiness, measured speed; this
 * tab too when it computes), mesh check, and the render panel. Renders HostService and render-job state.
 */
@customElement('vi-host')
export class ViHost extends LitElement {
  static override styles = css`
    :host { display: block; max-width: 60rem; margin: 1rem auto; font-family: system-ui, sans-serif; }
    section { border: 1px solid #ddd; border-radius: 6px; padding: 0.75rem 1rem; margin-bottom: 1rem; }
    h2 { font-size: 1.05rem; margin: 0 0 0.5rem; }
    .error { color: #b00020; }
    pre { max-height: 10rem; overflow: auto; background: #f6f6f6; padding: 0.5rem; font-size: 0.8rem; }
  `;

  readonly service = new HostService();
  private readonly _ctl = new ServiceController(this, this.service);
  /** The render job; `?model=URL` on the host page picks another model package. */
  readonly renderJob = new HostRenderJob(this.service, new URLSearchParams(location.search).get('model') ?? DEFAULT_PACKAGE_URL);
  private readonly _jobCtl = new ServiceController(this, this.renderJob);
  private readonly _hereCtl = new ServiceController(this, this.renderJob.readiness);
  /** "compute in this tab" is ticked: this tab is a member (shown in the table, counted for the partition default). */
  @state() private _computeHere = false;
  @state() private _defaults: JobDefaults | null = null;
  @state() private _modelError = '';
  @state() private _packages: readonly ListedPackage[] = [];
  /** A render this tab did not finish (reloaded or crashed mid-job), saved in this browser. */
  @state() private _unfinished: SavedRender | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    this.renderJob.modelFacts().then(
      (f) => {
        const d = f.manifest.defaults;
        const sampler: SamplerName = d.sampler === 'ddim' ? 'ddim' : d.sampler === 'sde-dpm++' ? 'dpm++2m-sde' : 'dpm++2m';
        const { width, height } = summarizePackage(f.manifest);
        this._defaults = { steps: d.steps, guidance: d.guidance, sampler, exportScale: defaultExportScale(width, height), checkPrompt: (p) => checkPrompt(f.tokenizer, p) };
      },
      (e: unknown) => (this._modelError = `model ${this.renderJob.packageUrl}: ${e instanceof Error ? e.message : String(e)}`),
    );
    fetchPackageList().then((p) => (this._packages = p), () => undefined); // no list: the render panel still names its package
    window.addEventListener('pagehide', this._onPageHide);
    this._loadUnfinished();
    if (recallHostRoom()) this._onCreate(); // reloaded: the room this tab had is reopened, its workers come back
  }

  private _loadUnfinished(): void {
    loadUnfinishedRender().then(
      (r) => (this._unfinished = r),
      () => (this._unfinished = null), // no IndexedDB (private mode): nothing to offer
    );
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('pagehide', this._onPageHide);
    this.renderJob.dispose();
    this.service.dispose();
  }

  /** The host tab closing closes its channels at once, so the workers see it gone now. */
  private readonly _onPageHide = (): void => this.service.dispose();

  override render() {
    const s = this._ctl.service.state;
    const job = s.job;
    const ranks = new Map(job?.roster.map((p, r) => [p, r]) ?? []);
    const here = this._computeHere ? toMemberEngine(this._hereCtl.service.state) : undefined;
    const self = this._computeHere ? { name: THIS_TAB, ...(here && { engine: here }) } : undefined;
    const selfRank = s.room && job?.kind === 'render' ? ranks.get(s.room.hostPeerId) : undefined;
    // The partition's default: by speed when every member that would compute reported one.
    const computing = [...this.service.readyWorkers().map((w) => w.engine).filter((e) => e?.phase !== 'failed'), ...(self ? [here] : [])];
    const allSpeedsReported = computing.length > 0 && computing.every((e) => e?.speed !== undefined);
    return html`
      <h1>Video-Infinity: host</h1>
      <section>
        <h2>Room</h2>
        ${s.room
          ? html`<p>Open this link in each worker tab (one per GPU machine):</p><vi-copy-link .href=${joinLinkWithPackage(s.room.joinUrl, this.renderJob.packageUrl)}></vi-copy-link>`
          : html`<button data-testid="create-room" ?disabled=${s.phase === 'creating'} @click=${this._onCreate}>Create room</button>`}
        ${s.error ? html`<p class="error" data-testid="host-error">${s.error}</p>` : ''}
      </section>
      <section>
        <h2>Workers (${this.service.readyWorkers().length} ready)</h2>
        <vi-member-table .workers=${s.workers} .ranks=${ranks} .self=${self} .selfRank=${selfRank} .packageUrl=${this.renderJob.packageUrl}></vi-member-table>
      </section>
      <section>
        <h2>Mesh check</h2>
        <button data-testid="mesh-check" ?disabled=${this.service.readyWorkers().length < 2 || job?.status === 'starting' || job?.status === 'running'} @click=${this._onMeshCheck}>
          Measure every pair
        </button>
        <span data-testid="job-status">${job ? `job ${job.meshJobId} (${job.kind}): ${job.status}${job.error ? `: ${job.error}` : ''}` : ''}</span>
        ${job?.pairs?.length ? html`<vi-pair-table .pairs=${job.pairs}></vi-pair-table>` : ''}
      </section>
      <section>
        <h2>Model packages</h2>
        <vi-package-list .packages=${this._packages} .current=${this.renderJob.packageUrl}></vi-package-list>
      </section>
      <section>
        <h2>Render</h2>
        ${this._modelError ? html`<p class="error" data-testid="model-error">${this._modelError}</p>` : ''}
        ${this._unfinished && !this.renderJob.busy ? this._renderUnfinished(this._unfinished) : ''}
        <vi-job-panel .job=${this._jobCtl.service.state} .defaults=${this._defaults} .readyWorkers=${this.service.readyWorkers().length} .allSpeedsReported=${allSpeedsReported}
          @job-start=${this._onJobStart} @job-cancel=${this._onJobCancel} @compute-here=${this._onComputeHere}></vi-job-panel>
      </section>
      ${s.log.length ? html`<section><h2>Log</h2><pre data-testid="host-log">${s.log.join('\n')}</pre></section>` : ''}
    `;
  }

  private _renderUnfinished(r: SavedRender) {
    const prompt = r.settings.schedule[0]?.prompt ?? '';
    return html`<p data-testid="unfinished-render">
      An unfinished render from ${new Date(r.savedAt).toLocaleString()}: ${r.settings.totalFrames} frames, “${prompt}”${r.settings.schedule.length > 1 ? ' …' : ''},
      step ${r.step}/${r.settings.steps} done. It resumes on the workers connected now (and this tab, if “compute in this tab” is ticked); the video is the same.
      <button data-testid="resume-render" @click=${() => this._onResume(r)}>Resume</button>
      <button data-testid="discard-render" @click=${this._onDiscard}>Discard</button>
    </p>`;
  }

  private _onResume(r: SavedRender): void {
    this._unfinished = null;
    // On failure the saved copy is still there (or newer): offer it again.
    void this.renderJob.start(r.settings, { computeHere: this._computeHere, resume: r }).catch(() => this._loadUnfinished());
  }

  private _onDiscard(): void {
    this._unfinished = null;
    void discardUnfinishedRender().catch(() => undefined);
  }

  private _onCreate(): void {
    void this.service.createRoom().catch(() => undefined); // the error is in state
  }

  private _onJobStart(e: JobStartEvent): void {
    this._unfinished = null; // this render replaces the saved one from its first step
    void this.renderJob.start(e.settings, { computeHere: e.computeHere, partition: e.partition }).catch(() => this._loadUnfinished()); // the error is in state; a failed job may be resumed
  }

  private _onComputeHere(e: ComputeHereEvent): void {
    this._computeHere = e.computeHere;
    if (e.computeHere) this.renderJob.prepareHere(); // load and time the model now, not at Start
  }

  private _onJobCancel(_: JobCancelEvent): void {
    this.renderJob.cancel('cancelled on the host');
  }

  private _onMeshCheck(): void {
    void this.service.runMeshCheck().catch(() => undefined);
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-host': ViHost;
  }
}
