// Pieces every screen uses. Data is always rendered as text nodes, never as markup.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { usePortal } from './context';

export function Problem({ error }: { error: Error | null }) {
  return error ? (
    <p class="problem" role="alert">
      {error.message}
    </p>
  ) : null;
}

export function Status({ value }: { value: string | null | undefined }) {
  const v = value ?? 'unknown';
  return <span class={`status status-${v.replace(/[^a-z]/gi, '')}`}>{v}</span>;
}

export function Code({ text, label }: { text: string | null | undefined; label: string }) {
  return (
    <pre class="code" aria-label={label} tabIndex={0}>
      {text ?? ''}
    </pre>
  );
}

export function Headers({ headers, label }: { headers: Record<string, string> | null | undefined; label: string }) {
  const rows = Object.entries(headers ?? {});
  if (rows.length === 0) return <p class="muted">No {label.toLowerCase()}.</p>;
  return (
    <table class="headers">
      <caption>{label}</caption>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A button that runs an API action, shows it is busy, and reports the outcome in the status line. */
export function Action({
  run,
  done,
  children,
  kind,
  disabled,
}: {
  run: () => Promise<unknown>;
  done?: (result: any) => string | void;
  children: ComponentChildren;
  kind?: 'danger' | 'primary';
  disabled?: boolean;
}) {
  const { notify } = usePortal();
  const [busy, setBusy] = useState(false);
  const onClick = async () => {
    setBusy(true);
    try {
      const result = await run();
      const text = done?.(result);
      if (text) notify(text);
    } catch (e) {
      notify((e as Error).message, 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <button type="button" class={kind} onClick={onClick} disabled={busy || disabled} aria-busy={busy}>
      {children}
    </button>
  );
}

export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
      {hint && <small class="muted">{hint}</small>}
    </label>
  );
}
