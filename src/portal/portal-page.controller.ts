import {
  Controller,
  Get,
  Inject,
  Param,
  Req,
  Res,
  StreamableFile,
  UseFilters,
  VERSION_NEUTRAL,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { isHexColour } from '../webhooks.options.js';
import { messages } from '../webhooks.messages.js';
import { portalAssetsDir } from './portal-assets.js';
import { PortalProblem } from './portal.problem.js';
import { PortalProblemFilter } from './portal-problem.filter.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

const escapeAttr = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

type PageRequest = { query?: Record<string, unknown>; originalUrl?: string; url?: string };

/**
 * The path of the request-target, without a trailing `/`, for the page's `<base>`. An
 * absolute-form target (`GET http://evil.example/webhooks/portal`, which both adapters route)
 * names a host the page must not load from: only the path is kept, with one leading `/`, so
 * `//host/…` cannot become a network-path reference either.
 */
function pagePath(target: string, fallback: string): string {
  let pathname = fallback;
  try {
    pathname = new URL(target, 'http://portal.invalid').pathname;
  } catch {
    // A host the URL parser refuses (`http://[x/…`), which Fastify's router still strips: the route's path.
  }
  return pathname.replace(/^\/+/, '/').replace(/\/+$/, '');
}

/**
 * `GET /<path>`: the page, with the theme in a meta tag (no inline script: the CSP allows only
 * the page's own files) and a `<base>` so its relative asset URLs resolve under the path.
 * `GET /<path>/assets/<file>`: the built files, cached for good (their names carry a hash).
 */
export function createPortalPageController(path: string, dir = portalAssetsDir()): Type<unknown> {
  @Controller({ path, version: VERSION_NEUTRAL })
  @UseFilters(PortalProblemFilter)
  class PortalPageController {
    private readonly dir = dir;

    constructor(
      @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
      private readonly adapterHost: HttpAdapterHost,
    ) {}

    @Get()
    async page(@Req() req: PageRequest, @Res() res: unknown): Promise<void> {
      const html = await readFile(join(this.dir, 'index.html'), 'utf8').catch(() => {
        throw new PortalProblem('ui_not_built', messages.portalUiMissing(this.dir));
      });
      const adapter = this.adapterHost.httpAdapter;
      adapter.setHeader(res, 'Content-Type', 'text/html; charset=utf-8');
      adapter.setHeader(res, 'Cache-Control', 'no-store');
      adapter.setHeader(res, 'Referrer-Policy', 'no-referrer');
      adapter.setHeader(res, 'X-Content-Type-Options', 'nosniff');
      adapter.setHeader(res, 'Content-Security-Policy', this.csp());
      adapter.reply(res, this.render(html, req), 200);
    }

    @Get('assets/:file')
    async asset(@Param('file') file: string, @Res() res: unknown): Promise<void> {
      const type = TYPES[extname(file)];
      if (!/^[\w.-]+$/.test(file) || file.startsWith('.') || !type)
        throw new PortalProblem('not_found', `No portal asset "${file}".`);
      const content = await readFile(join(this.dir, 'assets', file)).catch(() => {
        throw new PortalProblem('not_found', `No portal asset "${file}".`);
      });
      const adapter = this.adapterHost.httpAdapter;
      adapter.setHeader(res, 'Content-Type', type);
      adapter.setHeader(res, 'X-Content-Type-Options', 'nosniff');
      // element.js keeps its name across builds (apps link it); the others are content-hashed.
      adapter.setHeader(
        res,
        'Cache-Control',
        file === 'element.js' ? 'public, max-age=300' : 'public, max-age=31536000, immutable',
      );
      // A bare Buffer would go out as JSON ({ type: 'Buffer', data }) on Express.
      adapter.reply(res, new StreamableFile(content, { type, length: content.length }), 200);
    }

    private csp(): string {
      return [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'none'",
        `frame-ancestors ${this.options.portal!.frameAncestors.join(' ')}`,
      ].join('; ');
    }

    /** The configured theme, overridden by valid `?theme=` / `?primary=`, and the page's own path as `<base>`. */
    private render(html: string, req: PageRequest): string {
      const theme = { ...this.options.portal!.theme };
      const q = req.query ?? {};
      if (q.theme === 'light' || q.theme === 'dark' || q.theme === 'auto') theme.mode = q.theme;
      if (isHexColour(q.primary)) theme.primaryColor = q.primary;
      const pathname = pagePath(req.originalUrl ?? req.url ?? `/${path}`, `/${path}`);
      const meta = `<meta name="webhooks-portal-theme" content="${escapeAttr(JSON.stringify(theme))}" />`;
      const withMeta = /<meta name="webhooks-portal-theme"[^>]*>/.test(html)
        ? html.replace(/<meta name="webhooks-portal-theme"[^>]*>/, meta)
        : html.replace('<head>', `<head>${meta}`);
      return withMeta.replace('<head>', `<head><base href="${escapeAttr(pathname)}/" />`);
    }
  }
  return PortalPageController;
}
