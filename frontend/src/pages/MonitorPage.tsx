import { useQuery } from "@tanstack/react-query";
import { getQueue, getStatistics } from "../api/client";
import { priorities } from "../api/contract";
import { ThroughputChart } from "../components/ThroughputChart";
import { formatTime } from "../lib/time";

const REFRESH_MS = 5000;

export function MonitorPage() {
  const queue = useQuery({ queryKey: ["queue"], queryFn: getQueue, refetchInterval: REFRESH_MS });
  const statistics = useQuery({ queryKey: ["statistics"], queryFn: getStatistics, refetchInterval: REFRESH_MS });
  const overview = queue.data;
  const busy = overview?.executors.reduce((sum, e) => sum + (e.alive ? e.slots_in_use : 0), 0) ?? 0;

  return (
    <div className="monitor-page">
      <h2>Monitor</h2>
      <p>
        Celery's own view of the workers and tasks is in{" "}
        <a href="/flower/" target="_blank" rel="noreferrer">
          Flower
        </a>{" "}
        (its credentials are in <code>.crucible/flower-credentials</code>).
      </p>
      <section aria-labelledby="queue-heading">
        <h3 id="queue-heading">Queue</h3>
        {queue.error && <p role="alert">The queue is unavailable: {queue.error.message}</p>}
        {overview && (
          <>
            <table className="depths">
              <thead>
                <tr>
                  {priorities.map((p) => (
                    <th key={p} scope="col">
                      {p}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                <tr>
                  {priorities.map((p) => (
                    <td key={p} aria-label={`${p} waiting`}>
                      {overview.depths[p] ?? 0}
                    </td>
                  ))}
                </tr>
              </tbody>
            </table>
            <p>
              {overview.workers_online} worker{overview.workers_online === 1 ? "" : "s"} online · executor slots:{" "}
              <strong>{busy} busy</strong>, <strong>{Math.max(0, overview.slots_total - busy)} free</strong> of{" "}
              {overview.slots_total}
            </p>
            <table className="executors">
              <thead>
                <tr>
                  <th scope="col">Executor</th>
                  <th scope="col">Backend</th>
                  <th scope="col">Busy</th>
                  <th scope="col">Free</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {overview.executors.map((executor) => (
                  <tr key={executor.id}>
                    <td>{executor.id}</td>
                    <td>{executor.backend}</td>
                    <td>{executor.slots_in_use}</td>
                    <td>{executor.alive ? Math.max(0, executor.capacity - executor.slots_in_use) : 0}</td>
                    <td>{executor.alive ? "alive" : "silent"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
      <section aria-labelledby="throughput-heading">
        <h3 id="throughput-heading">Throughput</h3>
        {statistics.error && <p role="alert">Statistics are unavailable: {statistics.error.message}</p>}
        {statistics.data && (
          <>
            <ThroughputChart buckets={statistics.data.throughput} />
            <p className="muted">
              {statistics.data.finished_last_hour} finished in the last hour; generated{" "}
              {formatTime(statistics.data.generated_at)}.
            </p>
          </>
        )}
      </section>
    </div>
  );
}
