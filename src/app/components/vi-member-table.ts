import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { adapterName } from '../services/adapter-probe.js';
import type { WorkerEntry } from '../services/host-service.js';

/** The room's workers with their adapters and connection state. */
@customElement('vi-member-table')
export class ViMemberTable extends LitElement {
  static override styles = css`
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; }
    .off { color: #999; }
  `;

  @property({ attribute: false }) workers: readonly WorkerEntry[] = [];
  /** Rank by peer id in the current job, if any. */
  @property({ attribute: false }) ranks: ReadonlyMap<string, number> = new Map();

  override render() {
    if (this.workers.length === 0) return html`<p>No workers yet: open the join link in other tabs or on other machines.</p>`;
    return html`<table data-testid="members">
      <thead><tr><th>rank</th><th>name</th><th>state</th><th>GPU</th><th>shader-f16</th><th>last error</th></tr></thead>
      <tbody>
        ${this.workers.map(
          (w) => html`<tr class=${w.controlOpen ? '' : 'off'} data-peer=${w.peerId}>
            <td>${this.ranks.get(w.peerId) ?? '–'}</td>
            <td>${w.name}</td>
            <td>${w.controlOpen ? 'ready' : w.signaling ? 'connecting' : 'offline'}</td>
            <td>${w.adapter ? adapterName(w.adapter) : '…'}</td>
            <td>${w.adapter?.backend === 'webgpu' ? (w.adapter.shaderF16 ? 'yes' : 'no') : '–'}</td>
            <td>${w.lastError ? `${w.lastError.code}: ${w.lastError.message}` : ''}</td>
          </tr>`,
        )}
      </tbody>
    </table>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-member-table': ViMemberTable;
  }
}
