import * as echarts from 'echarts';
import type { LossHistory } from '../train/config.js';

/** Points a line may have; longer histories are averaged over equal runs of steps. */
const MAX_POINTS = 500;

/** Means of consecutive runs of points, so that a long, noisy train loss stays readable and small. */
function averaged(points: [number, number][]): [number, number][] {
  const size = Math.ceil(points.length / MAX_POINTS);
  if (size <= 1) return points;
  const out: [number, number][] = [];
  for (let i = 0; i < points.length; i += size) {
    const run = points.slice(i, i + size);
    out.push([run[run.length - 1][0], run.reduce((sum, [, v]) => sum + v, 0) / run.length]);
  }
  return out;
}

/** Train and validation loss against step, as an SVG document (ECharts' server-side renderer). */
export function lossChart(history: LossHistory, title: string): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: 720, height: 400 });
  try {
    chart.setOption({
      animation: false,
      backgroundColor: '#fff',
      title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
      legend: { top: 28 },
      grid: { left: 60, right: 30, top: 70, bottom: 50 },
      xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 28, min: 0 },
      yAxis: { type: 'value', name: 'nats/char', scale: true },
      series: [
        { name: 'train', type: 'line', showSymbol: false, data: averaged(history.train.filter(([, v]) => Number.isFinite(v))) },
        { name: 'validation', type: 'line', symbolSize: 5, data: history.validation },
      ],
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const BARS = '▁▂▃▄▅▆▇█';

/** A one-line chart of `values` in block characters, low to high, at most `width` wide; flat when they barely differ. */
export function sparkline(values: number[], width = 40): string {
  if (values.length === 0) return '';
  const step = Math.max(1, Math.ceil(values.length / width));
  const picked = values.filter((_, i) => i % step === 0 || i === values.length - 1);
  const low = Math.min(...picked);
  const span = Math.max(...picked) - low;
  // Differences below a thousandth of the values are noise; drawn full height they would shout.
  const flat = !(span > 1e-3 * Math.abs(low));
  return picked.map((v) => BARS[flat ? 0 : Math.round(((v - low) / span) * (BARS.length - 1))]).join('');
}
