/** Longest caller-controlled text one message carries, in characters. */
const SHOWN_LIMIT = 100;

/**
 * A caller-controlled value as a message shows it. A string is quoted, with control and
 * line-separator characters escaped, so that a `%0A` in a URL or a U+0000 in an id cannot start
 * a forged log line or reach a log raw, and cut at `max` characters, so that one call writes a
 * bounded line. Anything else is shown as JSON (cut the same way), and never throws: a BigInt, a
 * symbol, a function or a value JSON cannot write (cyclic) is named instead.
 */
export function shown(value: unknown, max = SHOWN_LIMIT): string {
  if (typeof value === 'string') {
    const cut = value.length > max ? value.slice(0, max) : value;
    const text = JSON.stringify(cut).replace(
      /[\u007f-\u009f\u2028\u2029]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    return cut.length < value.length ? `${text}… (${value.length - cut.length} more)` : text;
  }
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return 'a function';
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    // Cyclic, a BigInt inside, a throwing toJSON: name the kind, never fail while describing a failure.
    return `${Array.isArray(value) ? 'an array' : 'an object'} that JSON cannot show`;
  }
  if (json === undefined) return 'a value JSON cannot show';
  return json.length > max ? `${json.slice(0, max)}… (${json.length - max} more)` : json;
}
