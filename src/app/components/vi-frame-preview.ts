import { LitElement, css, html, type PropertyValues } from 'lit';
import { customElement, property } from 'lit/decorators.js';

/** One RGBA frame drawn on a canvas, scaled up with crisp pixels. */
@customElement('vi-frame-preview')
export class ViFramePreview extends LitElement {
  static override styles = css`
    canvas { width: 96px; height: 96px; image-rendering: pixelated; background: #222; }
  `;

  @property({ attribute: false }) frame: { readonly width: number; readonly height: number; readonly rgba: Uint8ClampedArray } | undefined;

  override render() {
    return html`<canvas></canvas>`;
  }

  override updated(_: PropertyValues<this>): void {
    const f = this.frame;
    const canvas = this.renderRoot.querySelector('canvas');
    if (!f || !canvas) return;
    canvas.width = f.width;
    canvas.height = f.height;
    canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(f.rgba), f.width, f.height), 0, 0);
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-frame-preview': ViFramePreview;
  }
}
