import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { getEvents } from "../api/client";
import { ExitCode, OutcomeBadge } from "../components/OutcomeBadge";
import { Outputs } from "../components/OutputPanel";
import { StatusLine } from "../components/StatusLine";
import { TestResults } from "../components/TestResults";
import { useEvaluation } from "../components/useEvaluation";
import { formatDuration, formatTime } from "../lib/time";

export function EvaluationDetailPage() {
  const { id = "" } = useParams();
  const { data: evaluation, error } = useEvaluation(id);
  // The timeline grows with each status: fetched again whenever the status changes.
  const events = useQuery({
    queryKey: ["events", id, evaluation?.status],
    queryFn: () => getEvents(id),
    enabled: evaluation !== undefined,
    placeholderData: keepPreviousData,
  });

  if (error) return <p role="alert">Could not load evaluation {id}: {error.message}</p>;
  if (!evaluation) return <p>Loading…</p>;
  return (
    <div className="detail-page">
      <h2>
        Evaluation <code>{evaluation.id}</code>
      </h2>
      <div className="result-head">
        <StatusLine evaluation={evaluation} />
        <OutcomeBadge evaluation={evaluation} />
        <ExitCode evaluation={evaluation} />
        <Link to={`/?open=${evaluation.id}`}>Open in the editor</Link>
      </div>
      <dl className="facts">
        <dt>Priority</dt>
        <dd>{evaluation.priority}</dd>
        <dt>Image</dt>
        <dd>{evaluation.image}</dd>
        <dt>Limits</dt>
        <dd>
          {evaluation.timeout_seconds} s, {evaluation.memory_mb} MB
        </dd>
        <dt>Executor</dt>
        <dd>{evaluation.executor ?? "none yet"}</dd>
        <dt>Attempts</dt>
        <dd>{evaluation.attempts}</dd>
        {evaluation.duration_ms !== null && evaluation.duration_ms !== undefined && (
          <>
            <dt>Run time</dt>
            <dd>{formatDuration(evaluation.duration_ms)}</dd>
          </>
        )}
      </dl>
      <details className="code">
        <summary>Code ({evaluation.code.split("\n").length} lines)</summary>
        <pre>{evaluation.code}</pre>
        {evaluation.stdin && (
          <>
            <h4>Standard input</h4>
            <pre>{evaluation.stdin}</pre>
          </>
        )}
      </details>
      <TestResults evaluation={evaluation} />
      <Outputs evaluation={evaluation} />
      <section aria-labelledby="timeline-heading">
        <h3 id="timeline-heading">Events</h3>
        {events.error && <p role="alert">Could not load the events: {events.error.message}</p>}
        <ol className="timeline">
          {(events.data ?? []).map((event) => (
            <li key={event.sequence}>
              <time dateTime={event.at}>{formatTime(event.at)}</time> <strong>{event.status}</strong>
              {event.detail && <span className="muted"> — {event.detail}</span>}
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}
