// <webhooks-portal src="https://app.example.com/webhooks/portal" token="…" theme="dark" primary="#0a7">
// An iframe around the portal page; the token travels in the fragment, which browsers never send
// to servers. Standalone: this file imports nothing, so apps can load it on its own.

const OBSERVED = ['src', 'token', 'theme', 'primary', 'height'];

class WebhooksPortalElement extends HTMLElement {
  static get observedAttributes(): string[] {
    return OBSERVED;
  }

  private frame: HTMLIFrameElement | null = null;

  connectedCallback(): void {
    if (!this.frame) {
      const root = this.attachShadow({ mode: 'open' });
      const style = document.createElement('style');
      style.textContent = ':host{display:block}iframe{border:0;width:100%;height:100%;min-height:inherit}';
      this.frame = document.createElement('iframe');
      this.frame.title = this.getAttribute('title') ?? 'Webhooks';
      root.append(style, this.frame);
    }
    this.update();
  }

  attributeChangedCallback(): void {
    if (this.frame) this.update();
  }

  private update(): void {
    const src = this.getAttribute('src');
    if (!src || !this.frame) return;
    const url = new URL(src, location.href);
    url.searchParams.set('embed', '1');
    const theme = this.getAttribute('theme');
    if (theme) url.searchParams.set('theme', theme);
    const primary = this.getAttribute('primary');
    if (primary) url.searchParams.set('primary', primary);
    const token = this.getAttribute('token');
    url.hash = token ? `token=${encodeURIComponent(token)}` : '';
    this.frame.style.height = this.getAttribute('height') ?? '720px';
    if (this.frame.src !== url.href) this.frame.src = url.href;
  }
}

if (!customElements.get('webhooks-portal')) customElements.define('webhooks-portal', WebhooksPortalElement);
