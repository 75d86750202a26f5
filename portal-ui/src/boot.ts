// What the page learns before it renders: the token (from the magic link's fragment, then kept
// in sessionStorage so a reload works), the API base, and the theme (server meta, then query).
import type { Theme, ThemeMode } from './api';

const TOKEN_KEY = 'webhooks-portal-token';

/** Takes the token out of the fragment and the address bar, so it never lands in history or logs. */
export function takeToken(): string | null {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = hash.get('token');
  if (fromHash) {
    history.replaceState(null, '', location.pathname + location.search);
    try {
      sessionStorage.setItem(TOKEN_KEY, fromHash);
    } catch {
      // Storage can be refused (sandboxed iframe): the token then lives in memory only.
    }
    return fromHash;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** The API lives at `<page path>/api`, wherever the app mounted the page. */
export function apiBase(): string {
  return location.pathname.replace(/\/index\.html$/, '').replace(/\/+$/, '') + '/api';
}

/** Theme from the server's meta tag, then the page's query params (`theme`, `primary`). */
export function pageTheme(): Theme {
  const theme: Theme = {};
  const meta = document.querySelector('meta[name="webhooks-portal-theme"]')?.getAttribute('content');
  if (meta) {
    try {
      Object.assign(theme, JSON.parse(meta));
    } catch {
      // A malformed meta tag leaves the default theme.
    }
  }
  const q = new URLSearchParams(location.search);
  const mode = q.get('theme');
  if (mode === 'light' || mode === 'dark' || mode === 'auto') theme.mode = mode;
  const primary = q.get('primary');
  if (primary) theme.primaryColor = primary;
  return theme;
}

export function isEmbedded(): boolean {
  return new URLSearchParams(location.search).get('embed') === '1';
}

/** Applies a theme through CSS variables; colours the browser does not accept are ignored. */
export function applyTheme(theme: Theme, override: Theme = {}): void {
  const root = document.documentElement;
  const mode: ThemeMode = override.mode ?? theme.mode ?? 'auto';
  root.dataset.theme = mode;
  const primary = override.primaryColor ?? theme.primaryColor;
  if (primary && CSS.supports('color', primary)) root.style.setProperty('--wp-primary', primary);
}
