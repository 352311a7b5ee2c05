import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { cancelBatch, listBatches, type BatchProgress } from "../api/client";
import { outcomes, pageSize } from "../api/contract";
import { formatTime } from "../lib/time";

// While any batch shown is unfinished, the list is read again this often: one
// GET /api/batches per tick, whatever the number of batches on the page.
export const BATCH_POLL_MS = 2_000;

/** The statuses counted as still to come, in the order work moves through them. */
const UNFINISHED = ["queued", "provisioning", "running"] as const;

/** The caller's newest batches (the API answers newest first), with progress and counts. */
export function BatchList() {
  const { data, error } = useQuery({
    queryKey: ["batches"],
    queryFn: () => listBatches({ limit: pageSize.default }),
    // Stop polling once every batch is done: a finished batch no longer changes.
    refetchInterval: (query) => (query.state.data?.items.some((b) => !b.done) ? BATCH_POLL_MS : false),
  });

  if (error) return <p role="alert">Could not list batches: {error.message}</p>;
  // Hidden until there is one: most users never submit a batch.
  if (!data || data.items.length === 0) return null;
  return (
    <section className="batches" aria-label="Batches">
      <h3>Batches</h3>
      <ul>
        {data.items.map((batch) => (
          <BatchRow key={batch.id} batch={batch} />
        ))}
      </ul>
    </section>
  );
}

export function BatchRow({ batch }: { batch: BatchProgress }) {
  const client = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => cancelBatch(batch.id),
    // The answer is the batch's new progress; the list is read again so that
    // its counts and the polling decision agree with it.
    onSettled: () => client.invalidateQueries({ queryKey: ["batches"] }),
  });
  const name = batch.label ?? batch.id;
  return (
    <li className="batch" aria-label={`Batch ${name}`}>
      <div className="batch-head">
        <strong>{name}</strong> <span className="muted">{formatTime(batch.created_at)}</span>{" "}
        <Link to={`/evaluations?batch_id=${encodeURIComponent(batch.id)}`}>its evaluations</Link>
      </div>
      <progress max={batch.total} value={batch.finished} aria-label={`Progress of ${name}`} />{" "}
      <span>
        {batch.finished} / {batch.total} finished
      </span>
      <BatchCounts batch={batch} />
      {!batch.done && (
        <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
          Cancel
        </button>
      )}
      {cancel.error && <p role="alert">Could not cancel: {cancel.error.message}</p>}
    </li>
  );
}

/** Counts by outcome, then failed/cancelled and what is still to come; zeros left out. */
export function BatchCounts({ batch }: { batch: Pick<BatchProgress, "by_status" | "by_outcome"> }) {
  const entries: [string, number][] = [
    ...outcomes.map((o): [string, number] => [o, batch.by_outcome[o] ?? 0]),
    ...(["failed", "cancelled", ...UNFINISHED] as const).map((s): [string, number] => [s, batch.by_status[s] ?? 0]),
  ];
  return (
    <ul className="batch-counts" aria-label="Counts">
      {entries
        .filter(([, count]) => count > 0)
        .map(([name, count]) => (
          <li key={name} className={`badge badge-${name}`}>
            {name.replaceAll("_", " ")}: {count}
          </li>
        ))}
    </ul>
  );
}
