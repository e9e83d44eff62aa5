import { Chart, BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import { LitElement, css, html, type PropertyValues } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { StepStat } from '../job/render-view.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip);

/** Per-step compute time vs network wait (stacked bars, ms) and bytes sent per tab (line, MB). */
@customElement('vi-step-chart')
export class ViStepChart extends LitElement {
  static override styles = css`
    :host { display: block; position: relative; height: 14rem; }
  `;

  @property({ attribute: false }) stats: readonly StepStat[] = [];
  private _chart: Chart | null = null;

  override render() {
    return html`<canvas data-testid="step-chart"></canvas>`;
  }

  override firstUpdated(): void {
    const canvas = this.renderRoot.querySelector('canvas')!;
    this._chart = new Chart(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [
        { label: 'compute (ms)', data: [], backgroundColor: '#4e79a7', stack: 't', yAxisID: 'ms' },
        { label: 'network wait (ms)', data: [], backgroundColor: '#f28e2b', stack: 't', yAxisID: 'ms' },
        { label: 'sent per tab (MB)', data: [], type: 'line', borderColor: '#59a14f', yAxisID: 'mb' },
      ] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { ms: { position: 'left', stacked: true, title: { display: true, text: 'ms per step' } }, mb: { position: 'right', grid: { drawOnChartArea: false }, title: { display: true, text: 'MB per step' } }, x: { stacked: true } },
      },
    });
    this.updated(new Map([['stats', undefined]]));
  }

  override updated(changed: PropertyValues<this> | Map<string, unknown>): void {
    if (!this._chart || !changed.has('stats')) return;
    const c = this._chart;
    c.data.labels = this.stats.map((s) => String(s.step + 1));
    c.data.datasets[0]!.data = this.stats.map((s) => s.computeMs);
    c.data.datasets[1]!.data = this.stats.map((s) => s.networkWaitMs);
    c.data.datasets[2]!.data = this.stats.map((s) => s.bytesSentPerTab / 1e6);
    c.update();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this._chart?.destroy();
    this._chart = null;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-step-chart': ViStepChart;
  }
}
