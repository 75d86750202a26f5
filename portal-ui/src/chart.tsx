// Delivery outcomes per bucket, drawn by uPlot as bars; the same figures are in a table for
// screen readers and for anyone who wants the numbers.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Stats } from './api';
import { Problem } from './components';
import { usePortal } from './context';
import { ms, useLoad, when } from './util';

export function StatsPanel({ endpointId }: { endpointId: string }) {
  const { api } = usePortal();
  const [window, setWindow] = useState<'24h' | '7d'>('24h');
  const stats = useLoad(() => api.stats(endpointId, window), [api, endpointId, window]);
  const s = stats.data;
  return (
    <section aria-labelledby="stats-title" class="panel">
      <div class="title-row">
        <h2 id="stats-title">Deliveries</h2>
        <div role="group" aria-label="Time window" class="segmented">
          {(['24h', '7d'] as const).map((w) => (
            <button type="button" key={w} aria-pressed={window === w} onClick={() => setWindow(w)}>
              {w === '24h' ? 'Last 24 hours' : 'Last 7 days'}
            </button>
          ))}
        </div>
        <button type="button" onClick={stats.reload}>
          Refresh
        </button>
      </div>
      <Problem error={stats.error} />
      {s && (
        <>
          <dl class="figures" data-testid="stats">
            <div>
              <dt>Succeeded</dt>
              <dd data-testid="stats-succeeded">{s.succeeded}</dd>
            </div>
            <div>
              <dt>Failed</dt>
              <dd data-testid="stats-failed">{s.failed}</dd>
            </div>
            <div>
              <dt>Success rate</dt>
              <dd>{s.successRate === null ? '—' : `${Math.round(s.successRate * 1000) / 10} %`}</dd>
            </div>
            <div>
              <dt>p50 / p95</dt>
              <dd>
                {ms(s.p50Ms)} / {ms(s.p95Ms)}
              </dd>
            </div>
          </dl>
          <Bars stats={s} />
          <details>
            <summary>Figures per {s.window === '24h' ? 'hour' : 'period'}</summary>
            <table class="list">
              <thead>
                <tr>
                  <th scope="col">From</th>
                  <th scope="col">Succeeded</th>
                  <th scope="col">Failed</th>
                </tr>
              </thead>
              <tbody>
                {s.buckets
                  .filter((b) => b.succeeded || b.failed)
                  .map((b) => (
                    <tr key={b.start}>
                      <td>{when(b.start)}</td>
                      <td>{b.succeeded}</td>
                      <td>{b.failed}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </section>
  );
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function Bars({ stats }: { stats: Stats }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const xs = stats.buckets.map((b) => Date.parse(b.start) / 1000);
    const ok = stats.buckets.map((b) => b.succeeded);
    const failed = stats.buckets.map((b) => b.failed);
    // Stacked: failed drawn on top of succeeded; empty buckets draw nothing.
    const total = ok.map((v, i) => v + failed[i] || null);
    const okBars = ok.map((v) => v || null);
    const bars = uPlot.paths.bars!({ size: [0.7, 40] });
    const axis = { stroke: cssVar('--wp-muted', '#666'), grid: { stroke: cssVar('--wp-line', '#ddd'), width: 1 } };
    const plot = new uPlot(
      {
        width: Math.max(el.clientWidth, 240),
        height: 200,
        legend: { show: true },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [
          axis,
          { ...axis, size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 1e5, 1e6] },
        ],
        series: [
          {},
          {
            label: 'Failed',
            fill: cssVar('--wp-bad', '#c62828'),
            stroke: cssVar('--wp-bad', '#c62828'),
            paths: bars,
            points: { show: false },
            value: (_u, _v, _s, i) => (i === null ? '--' : String(failed[i])),
          },
          {
            label: 'Succeeded',
            fill: cssVar('--wp-good', '#2e7d32'),
            stroke: cssVar('--wp-good', '#2e7d32'),
            paths: bars,
            points: { show: false },
          },
        ],
      },
      [xs, total, okBars],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 240), height: 200 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [stats]);
  const label = `Bar chart: ${stats.succeeded} succeeded and ${stats.failed} failed deliveries from ${when(stats.from)} to ${when(stats.to)}.`;
  return <div ref={box} class="chart" role="img" aria-label={label} data-testid="chart" />;
}
