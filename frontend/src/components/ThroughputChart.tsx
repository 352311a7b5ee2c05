import { formatTime } from "../lib/time";

export interface Bucket {
  start: string;
  finished: number;
}

const WIDTH = 600;
const HEIGHT = 160;
const AXIS = 24;

/** Evaluations finished per minute, as bars; its label sums it up for screen readers. */
export function ThroughputChart({ buckets }: { buckets: readonly Bucket[] }) {
  const peak = Math.max(1, ...buckets.map((b) => b.finished));
  const width = buckets.length ? (WIDTH - AXIS) / buckets.length : 0;
  const total = buckets.reduce((sum, b) => sum + b.finished, 0);
  const first = buckets[0];
  const last = buckets[buckets.length - 1];
  return (
    <figure className="throughput">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT + AXIS}`} role="img" aria-label={`${total} evaluations finished in the last hour, at most ${peak} in a minute`}>
        <line x1={AXIS} y1={HEIGHT} x2={WIDTH} y2={HEIGHT} className="axis" />
        <text x={AXIS - 4} y={12} textAnchor="end" className="tick">
          {peak}
        </text>
        <text x={AXIS - 4} y={HEIGHT} textAnchor="end" className="tick">
          0
        </text>
        {buckets.map((bucket, index) => {
          const height = (bucket.finished / peak) * (HEIGHT - 8);
          return (
            <rect
              key={bucket.start}
              x={AXIS + index * width + 1}
              y={HEIGHT - height}
              width={Math.max(1, width - 2)}
              height={height}
              className="bar"
            >
              <title>
                {formatTime(bucket.start)}: {bucket.finished}
              </title>
            </rect>
          );
        })}
        {first && last && (
          <>
            <text x={AXIS} y={HEIGHT + 16} className="tick">
              {formatTime(first.start)}
            </text>
            <text x={WIDTH} y={HEIGHT + 16} textAnchor="end" className="tick">
              {formatTime(last.start)}
            </text>
          </>
        )}
      </svg>
      <figcaption>
        Evaluations finished per minute over the last hour: {total} in all.
      </figcaption>
    </figure>
  );
}
