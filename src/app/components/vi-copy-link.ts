import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';

/** A link with a copy button. */
@customElement('vi-copy-link')
export class ViCopyLink extends LitElement {
  static override styles = css`
    :host { display: flex; gap: 0.5rem; align-items: center; }
    input { flex: 1; font-family: ui-monospace, monospace; font-size: 0.85rem; padding: 0.3rem; }
  `;

  @property() href = '';
  @state() private _copied = false;

  override render() {
    return html`<input readonly .value=${this.href} data-testid="join-link" @focus=${(e: Event) => (e.target as HTMLInputElement).select()} />
      <button @click=${this._onCopy} data-testid="copy-link">${this._copied ? 'Copied' : 'Copy'}</button>`;
  }

  private async _onCopy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.href);
    } catch {
      this.renderRoot.querySelector('input')?.select(); // clipboard needs permission: leave it selected
    }
    this._copied = true;
    setTimeout(() => (this._copied = false), 1500);
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'vi-copy-link': ViCopyLink;
  }
}
