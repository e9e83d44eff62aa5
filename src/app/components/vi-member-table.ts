import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { clipText, fetchPackageMemory, memberClip, type PackageMemory } from '../job/job-members-memory.js';
import type { AdapterReport } from '../protocol.js';
import { adapterName } from '../services/adapter-probe.js';
import type { WorkerEntry } from '../services/room-members.js';
import type { MemberEngine } from '../services/member-engine-report.js';
import { engineText, fmtSpeed, speedText } from './member-engine-text.js';

/** The host itself as a member, when it computes too ("compute in this tab"). */
export interface SelfMember {
  readonly name: string;
  readonly engine?: MemberEngine;
}

/** The room's members with their adapters, connection state, model readiness and measured speed. */
@customElement('vi-member-table')
export class ViMemberTable extends LitElement {
  static override styles = css`
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; }
    .off { color: #999; }
    .failed { color: #b00020; }
  `;

  @property({ attribute: false }) workers: readonly WorkerEntry[] = [];
  /** Rank by peer id in the current job, if any. */
  @property({ attribute: false }) ranks: ReadonlyMap<string, number> = new Map();
  /** This tab as a member; undefined when the host does not compute. */
  @property({ attribute: false }) self?: SelfMember;
  /** This tab's rank in the current job, if it computes. */
  @property({ attribute: false }) selfRank?: number;
  /** The package the members load: its memory plan gives each worker's largest clip. */
  @property({ attribute: false }) packageUrl?: string;
  @state() private memory?: PackageMemory;
  @state() private memoryError?: string;

  override willUpdate(changed: Map<string, unknown>) {
    if (!changed.has('packageUrl')) return;
    this.memory = undefined;
    this.memoryError = undefined;
    const url = this.packageUrl;
    if (!url) return;
    fetchPackageMemory(url).then(
      (m) => url === this.packageUrl && (this.memory = m),
      (e: unknown) => url === this.packageUrl && (this.memoryError = `memory plan: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  /** A worker's largest clip under its adapter's limits, or why it cannot run the model. */
  private clipCell(adapter: AdapterReport | undefined) {
    if (!adapter) return html`<td data-testid="member-clip">–</td>`;
    if (!this.memory) return html`<td data-testid="member-clip" title=${this.memoryError ?? ''}>${this.memoryError ? '?' : '…'}</td>`;
    try {
      const fit = memberClip(this.memory, adapter);
      const t = clipText(fit);
      return html`<td data-testid="member-clip" class=${fit.fits ? '' : 'failed'} title=${t.title}>${t.text}</td>`;
    } catch (e) {
      return html`<td data-testid="member-clip" title=${e instanceof Error ? e.message : String(e)}>?</td>`;
    }
  }

  override render() {
    if (this.workers.length === 0 && !this.self) return html`<p>No workers yet: open the join link in other tabs or on other machines.</p>`;
    return html`<table data-testid="members">
      <thead><tr><th>rank</th><th>name</th><th>state</th><th>GPU</th><th>shader-f16</th><th>model</th><th>largest clip</th><th>speed (UNet)</th><th>last error</th></tr></thead>
      <tbody>
        ${this.self ? this.engineRow(this.self.name, 'self', this.selfRank, 'computing here', '', this.self.engine) : ''}
        ${this.workers.map((w) =>
          this.engineRow(
            w.name, w.peerId, this.ranks.get(w.peerId), w.controlOpen ? 'ready' : w.signaling ? 'connecting' : 'offline',
            w.adapter ? adapterName(w.adapter) : '…', w.controlOpen ? w.engine : undefined, w, w.lastError ? `${w.lastError.code}: ${w.lastError.message}` : '',
          ),
        )}
      </tbody>
    </table>`;
  }

  private engineRow(name: string, peer: string, rank: number | undefined, state: string, gpu: string, engine: MemberEngine | undefined, w?: WorkerEntry, lastError = '') {
    const model = engineText(engine) ?? (w && !w.controlOpen ? '–' : 'loading model…');
    return html`<tr class=${w && !w.controlOpen ? 'off' : ''} data-peer=${peer}>
      <td>${rank ?? '–'}</td>
      <td>${name}</td>
      <td>${state}</td>
      <td>${gpu}</td>
      <td>${w?.adapter?.backend === 'webgpu' ? (w.adapter.shaderF16 ? 'yes' : 'no') : '–'}</td>
      <td class=${engine?.phase === 'failed' ? 'failed' : ''} data-testid="member-model" data-phase=${engine?.phase ?? 'none'} title=${engine?.fallbackReason ?? ''}>${model}</td>
      ${w ? this.clipCell(w.adapter) : html`<td data-testid="member-clip">–</td>`}
      <td data-testid="member-speed" title=${speedText(engine) ?? ''}>${engine?.speed ? fmtSpeed(engine.speed.framesPerSecond) : '–'}</td>
      <td>${lastError}</td>
    </tr>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-member-table': ViMemberTable;
  }
}
