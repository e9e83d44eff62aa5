import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import './components/vi-adapter-card.js';
import './components/vi-pair-table.js';
import { ServiceController } from './controllers/service-controller.js';
import { WorkerService } from './services/worker-service.js';

const PHASE_TEXT = {
  joining: 'joining the room…',
  connecting: 'connecting to the signaling server and the host…',
  ready: 'connected; waiting for the host to start a job',
  'forming-mesh': 'connecting to the other workers…',
  'in-mesh': 'in the mesh',
  failed: 'failed',
} as const;

/** A worker tab: connection state, rank, GPU adapter. Renders WorkerService state. */
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

  service: WorkerService | null = null;
  private _ctl: ServiceController<WorkerService> | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this.service) {
      this.service = new WorkerService(this.name);
      this._ctl = new ServiceController(this, this.service); // addController connects it
      void this.service.start(this.room, this.token);
    }
  }

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
      ${s.meshCheck?.length ? html`<section><h2>Mesh check (my pairs)</h2><vi-pair-table .pairs=${s.meshCheck}></vi-pair-table></section>` : ''}
      ${s.peerEvents.length ? html`<section><h2>Peer events</h2><pre data-testid="peer-events">${s.peerEvents.join('\n')}</pre></section>` : ''}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-worker': ViWorker;
  }
}
