import { useId } from "react";
import { type Evaluation, fetchFullOutput } from "../api/client";
import { splitTraceback } from "../lib/traceback";

interface Props {
  label: "Standard output" | "Standard error";
  stream: "stdout" | "stderr";
  evaluationId?: string;
  text: string;
  // The program wrote more than the executor keeps.
  truncated: boolean;
  // Only the beginning of what was kept is here; the API serves the rest.
  preview: boolean;
  onLineClick?: (line: number) => void;
}

export function OutputPanel({ label, stream, evaluationId, text, truncated, preview, onLineClick }: Props) {
  const headingId = useId();
  return (
    <section className="output-panel" role="region" aria-labelledby={headingId}>
      <h3 id={headingId}>{label}</h3>
      <pre className={`output output-${stream}`}>
        {splitTraceback(text).map((piece, index) =>
          "line" in piece && onLineClick ? (
            <a
              key={index}
              href={`#line-${piece.line}`}
              className="traceback-link"
              onClick={(event) => {
                event.preventDefault();
                onLineClick(piece.line);
              }}
            >
              {piece.text}
            </a>
          ) : (
            <span key={index}>{piece.text}</span>
          ),
        )}
      </pre>
      {(truncated || preview) && (
        <p className="truncation" role="note">
          {truncated ? "Truncated: the program wrote more than the sandbox keeps." : "Only the beginning is shown."}{" "}
          {evaluationId && (
            <button type="button" className="link" onClick={() => void download(evaluationId, stream)}>
              Full {stream}
            </button>
          )}
        </p>
      )}
    </section>
  );
}

/** Both panels of an evaluation (empty before there is one); stderr's traceback lines are links. */
export function Outputs({ evaluation, onLineClick }: { evaluation?: Evaluation; onLineClick?: (line: number) => void }) {
  return (
    <>
      <OutputPanel
        label="Standard output"
        stream="stdout"
        evaluationId={evaluation?.id}
        text={evaluation?.stdout ?? ""}
        truncated={evaluation?.stdout_truncated ?? false}
        preview={evaluation?.stdout_preview ?? false}
      />
      <OutputPanel
        label="Standard error"
        stream="stderr"
        evaluationId={evaluation?.id}
        text={evaluation?.stderr ?? ""}
        truncated={evaluation?.stderr_truncated ?? false}
        preview={evaluation?.stderr_preview ?? false}
        onLineClick={onLineClick}
      />
    </>
  );
}

async function download(evaluationId: string, stream: "stdout" | "stderr"): Promise<void> {
  const url = URL.createObjectURL(await fetchFullOutput(evaluationId, stream));
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = `${evaluationId}-${stream}.txt`;
  anchor.click();
  URL.revokeObjectURL(url);
}
