import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { AdapterReport } from '../protocol.js';
import { adapterName } from '../services/adapter-probe.js';

/** A GPU adapter report: name, shader-f16, limits; or a plain "no WebGPU: WASM" with the reason. */
@customElement('vi-adapter-card')
export class ViAdapterCard extends LitElement {
  static override styles = css`
    :host { display: block; }
    .wasm { color: #a15c00; font-weight: 600; }
    dl { display: grid; grid-template-columns: max-content auto; gap: 0.15rem 1rem; margin: 0.5rem 0 0; }
    dt { color: #555; }
    dd { margin: 0; font-family: ui-monospace, monospace; }
  `;

  /** The adapter to show; undefined while probing. */
  @property({ attribute: false }) adapter?: AdapterReport;

  override render() {
    const a = this.adapter;
    if (!a) return html`<span>probing GPU…</span>`;
    if (a.backend === 'wasm') return html`<div class="wasm" data-testid="adapter-name">no WebGPU: WASM</div><div>${a.reason}</div>`;
    const gib = (n?: number) => (n === undefined ? '?' : `${(n / 2 ** 30).toFixed(2)} GiB`);
    return html`
      <div data-testid="adapter-name"><strong>${adapterName(a)}</strong></div>
      <dl>
        <dt>vendor / arch</dt><dd>${a.vendor || '?'} / ${a.architecture || '?'}</dd>
        <dt>shader-f16</dt><dd data-testid="shader-f16">${a.shaderF16 ? 'yes' : 'no (fp32 models only)'}</dd>
        <dt>maxBufferSize</dt><dd>${gib(a.limits?.maxBufferSize)}</dd>
        <dt>maxStorageBufferBindingSize</dt><dd>${gib(a.limits?.maxStorageBufferBindingSize)}</dd>
        <dt>maxComputeWorkgroupStorageSize</dt><dd>${a.limits?.maxComputeWorkgroupStorageSize ?? '?'} B</dd>
      </dl>
      ${a.isFallbackAdapter ? html`<p class="wasm">Software (fallback) adapter: this tab will be slow.</p>` : ''}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-adapter-card': ViAdapterCard;
  }
}
