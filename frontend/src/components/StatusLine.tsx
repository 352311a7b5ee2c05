import { useEffect, useState } from "react";
import { type Evaluation, isTerminal } from "../api/client";
import { formatDuration, parseTime } from "../lib/time";

const TICK_MS = 200;

/** What the evaluation is doing and for how long; in a live region, so it is read out. */
export function StatusLine({ evaluation, note }: { evaluation: Evaluation | undefined; note?: string }) {
  const [now, setNow] = useState(() => Date.now());
  const running = evaluation !== undefined && !isTerminal(evaluation.status);
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(timer);
  }, [running]);

  return (
    <div role="status" className="status-line" aria-live="polite">
      {evaluation === undefined ? (note ?? "Not run yet. Ctrl+Enter runs the code.") : describe(evaluation, now)}
    </div>
  );
}

export function describe(evaluation: Evaluation, now: number): string {
  const created = parseTime(evaluation.created_at);
  const end = evaluation.finished_at ? parseTime(evaluation.finished_at) : now;
  const elapsed = formatDuration(end - created);
  switch (evaluation.status) {
    case "queued": {
      const position = evaluation.queue_position;
      const place = position ? (position === 1 ? ", next in line" : `, number ${position} in line`) : "";
      return `Queued${place} · ${elapsed}`;
    }
    case "provisioning":
      return `Provisioning a sandbox · ${elapsed}`;
    case "running":
      return `Running · ${elapsed}`;
    case "completed":
      return `Completed (${(evaluation.outcome ?? "").replaceAll("_", " ")}) · ${elapsed}`;
    case "failed":
      return `Failed: ${evaluation.error ?? "the platform could not run it"} · ${elapsed}`;
    case "cancelled":
      return `Cancelled · ${elapsed}`;
  }
}
