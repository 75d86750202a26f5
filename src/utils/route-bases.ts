import type { ApplicationConfig } from '@nestjs/core';

/**
 * The URL bases a route of the module is served under: `/<global prefix>/<path>`, and
 * `/<path>` too when there is no prefix or it excludes `sample` (a route below `path`).
 */
export function routeBases(config: ApplicationConfig, path: string, sample: string): string[] {
  const base = `/${path.replace(/^\/+|\/+$/g, '')}`;
  const prefix = config.getGlobalPrefix().replace(/^\/+|\/+$/g, '');
  if (!prefix) return [base];
  const excluded = (config.getGlobalPrefixOptions().exclude ?? []).some((route) =>
    route.pathRegex.test(`${base}/${sample}`),
  );
  return excluded ? [`/${prefix}${base}`, base] : [`/${prefix}${base}`];
}

/** `text` as a literal in a regular expression. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
