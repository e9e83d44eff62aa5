import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { PairMeasurement } from '../protocol.js';

/** Mesh-check results: RTT and throughput for every pair of ranks. */
@customElement('vi-pair-table')
export class ViPairTable extends LitElement {
  static override styles = css`
    table { border-collapse: collapse; }
    th, td { text-align: right; padding: 0.25rem 0.8rem; border-bottom: 1px solid #ddd; font-variant-numeric: tabular-nums; }
  `;

  @property({ attribute: false }) pairs: readonly PairMeasurement[] = [];

  override render() {
    return html`<table data-testid="pair-table">
      <thead><tr><th>from rank</th><th>to rank</th><th>RTT p50 (ms)</th><th>throughput (MB/s)</th></tr></thead>
      <tbody>
        ${this.pairs.map((p) => html`<tr><td>${p.fromRank}</td><td>${p.toRank}</td><td>${p.rttMs.toFixed(2)}</td><td>${p.mbPerS.toFixed(1)}</td></tr>`)}
      </tbody>
    </table>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-pair-table': ViPairTable;
  }
}
