import type { Evaluation, EvaluationSummary } from "../api/client";

/** The outcome once completed, otherwise the status, as a coloured badge. */
export function OutcomeBadge({ evaluation }: { evaluation: Pick<EvaluationSummary, "status" | "outcome"> }) {
  const label = evaluation.status === "completed" ? (evaluation.outcome ?? "completed") : evaluation.status;
  return <span className={`badge badge-${label}`}>{label.replaceAll("_", " ")}</span>;
}

export function ExitCode({ evaluation }: { evaluation: Pick<Evaluation, "exit_code"> }) {
  if (evaluation.exit_code === null || evaluation.exit_code === undefined) return null;
  return <span className="exit-code">exit code {evaluation.exit_code}</span>;
}
