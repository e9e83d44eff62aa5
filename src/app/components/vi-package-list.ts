import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { ListedPackage } from '../services/package-list.js';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;

/**
 * The model packages the server offers: frame size, and what each role downloads (a worker tab the
 * compute part; the host, which encodes the prompts, the text encoder too). The one in use is
 * marked; another is chosen by reopening the dashboard on it (a tab's engine holds one package).
 */
@customElement('vi-package-list')
export class ViPackageList extends LitElement {
  static override styles = css`
    table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
    th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #eee; }
    .error { color: #b00020; }
  `;

  @property({ attribute: false }) packages: readonly ListedPackage[] = [];
  /** The package URL this dashboard renders with. */
  @property() current = '';

  override render() {
    return html`<table data-testid="packages">
      <tr><th>package</th><th>frames</th><th>worker downloads</th><th>host downloads</th><th></th></tr>
      ${this.packages.map((p) => {
        const inUse = p.url === this.current;
        if ('error' in p) return html`<tr data-testid="package" data-url=${p.url}><td>${p.url}</td><td class="error" colspan="4">${p.error}</td></tr>`;
        const s = p.summary;
        return html`<tr data-testid="package" data-url=${p.url} data-in-use=${inUse}>
          <td>${s.name} <small>${s.version}</small></td>
          <td data-testid="package-size">${s.width}×${s.height} @ ${s.frameRate} fps</td>
          <td data-testid="package-worker-bytes" title="the UNet graphs and weights">${mb(s.bytes.compute)}</td>
          <td data-testid="package-host-bytes" title="the text encoder and tokenizer, plus the UNet when this tab computes">${mb(s.bytes['text-encoder'])} (+ ${mb(s.bytes.compute)} computing)</td>
          <td>${inUse ? html`<strong>in use</strong>` : html`<a data-testid="use-package" href=${`?model=${encodeURIComponent(p.url)}`}>use</a>`}</td>
        </tr>`;
      })}
    </table>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-package-list': ViPackageList;
  }
}
