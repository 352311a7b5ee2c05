import { useMutation, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import {
  cancelEvaluation,
  type Evaluation,
  getEvaluation,
  isTerminal,
  submitEvaluation,
} from "../api/client";
import { images, memoryMb, priorities, timeoutSeconds } from "../api/contract";
import type { CursorRequest } from "../components/CodeEditor";
import { ExitCode, OutcomeBadge } from "../components/OutcomeBadge";
import { Outputs } from "../components/OutputPanel";
import { StatusLine } from "../components/StatusLine";
import { TestCasesEditor } from "../components/TestCasesEditor";
import { TestResults } from "../components/TestResults";
import { evaluationKey, useEvaluation } from "../components/useEvaluation";
import {
  type Draft,
  firstLine,
  type HistoryEntry,
  loadDraft,
  loadHistory,
  remember,
  saveDraft,
} from "../lib/drafts";
import { templates } from "../lib/templates";
import { formatTime } from "../lib/time";

// Monaco is large: only this page loads it, after the rest has rendered.
const CodeEditor = lazy(() => import("../components/CodeEditor"));

export function EditorPage() {
  const queryClient = useQueryClient();
  const [search, setSearch] = useSearchParams();
  const currentId = search.get("run") ?? undefined;
  const [draft, setDraft] = useState<Draft>(loadDraft);
  const [history, setHistory] = useState<HistoryEntry[]>(loadHistory);
  const [cursor, setCursor] = useState<CursorRequest>();
  const [problem, setProblem] = useState<string>();
  const { data: evaluation } = useEvaluation(currentId);

  useEffect(() => saveDraft(draft), [draft]);

  const change = <K extends keyof Draft>(key: K, value: Draft[K]) =>
    setDraft((current) => ({ ...current, [key]: value }));

  const show = useCallback(
    (shown: Evaluation) => {
      queryClient.setQueryData(evaluationKey(shown.id), shown);
      setSearch({ run: shown.id });
    },
    [queryClient, setSearch],
  );

  const run = useMutation({
    mutationFn: submitEvaluation,
    onMutate: () => setProblem(undefined),
    onSuccess: (submitted) => {
      show(submitted);
      setHistory(
        remember({ id: submitted.id, submittedAt: submitted.created_at, firstLine: firstLine(submitted.code) }),
      );
    },
    onError: (error: Error) => setProblem(`Not submitted: ${error.message}`),
  });
  const cancel = useMutation({
    mutationFn: cancelEvaluation,
    onSuccess: (cancelled) => queryClient.setQueryData(evaluationKey(cancelled.id), cancelled),
    onError: (error: Error) => setProblem(`Not cancelled: ${error.message}`),
  });
  const reopen = useMutation({
    mutationFn: getEvaluation,
    onMutate: () => setProblem(undefined),
    onSuccess: (opened) => {
      setDraft({
        code: opened.code,
        stdin: opened.stdin,
        timeout_seconds: opened.timeout_seconds,
        memory_mb: opened.memory_mb,
        priority: opened.priority,
        image: opened.image,
        tests: opened.tests ?? [],
        stop_on_first_failure: opened.stop_on_first_failure ?? false,
      });
      show(opened);
    },
    onError: (error: Error) => setProblem(`Could not reopen it: ${error.message}`),
  });

  // /?open=<id> (the detail page's "Open in the editor") loads that submission into the editor.
  const toOpen = search.get("open");
  const { mutate: open } = reopen;
  useEffect(() => {
    if (toOpen) open(toOpen);
  }, [toOpen, open]);

  const submit = useCallback(() => {
    if (!run.isPending) run.mutate({ ...draft, language: "python" });
  }, [draft, run]);

  // Ctrl+Enter anywhere on the page; inside the editor Monaco handles it itself.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && !event.defaultPrevented) {
        event.preventDefault();
        submit();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [submit]);

  const cancellable = evaluation !== undefined && !isTerminal(evaluation.status);

  return (
    <div className="editor-page">
      <section className="composer" aria-label="Program">
        <div className="toolbar">
          <label>
            Template{" "}
            <select
              value=""
              onChange={(event) => {
                const template = templates.find((t) => t.name === event.target.value);
                if (template) setDraft((d) => ({ ...d, code: template.code, image: template.image ?? d.image }));
              }}
            >
              <option value="">Start from a template…</option>
              {templates.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
          <button type="button" className="primary" onClick={submit} disabled={run.isPending}>
            Run
          </button>
          <button
            type="button"
            onClick={() => evaluation && cancel.mutate(evaluation.id)}
            disabled={!cancellable || cancel.isPending}
          >
            Cancel
          </button>
          <span className="hint">Ctrl+Enter runs</span>
        </div>
        <Suspense fallback={<div className="code-editor">Loading the editor…</div>}>
          <CodeEditor value={draft.code} onChange={(code) => change("code", code)} onRun={submit} cursor={cursor} />
        </Suspense>
        <div className="settings">
          <NumberField
            label="Timeout (s)"
            bound={timeoutSeconds}
            value={draft.timeout_seconds}
            onChange={(v) => change("timeout_seconds", v)}
          />
          <NumberField label="Memory (MB)" bound={memoryMb} value={draft.memory_mb} onChange={(v) => change("memory_mb", v)} />
          <label>
            Priority{" "}
            <select value={draft.priority} onChange={(e) => change("priority", priorities.find((p) => p === e.target.value) ?? draft.priority)}>
              {priorities.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          <label>
            Image{" "}
            <select value={draft.image} onChange={(e) => change("image", images.find((i) => i === e.target.value) ?? draft.image)}>
              {images.map((i) => (
                <option key={i}>{i}</option>
              ))}
            </select>
          </label>
        </div>
        <label className="stdin">
          Standard input
          <textarea rows={3} value={draft.stdin} onChange={(e) => change("stdin", e.target.value)} spellCheck={false} />
        </label>
        <TestCasesEditor
          tests={draft.tests}
          stopOnFirstFailure={draft.stop_on_first_failure}
          onChange={(tests) => change("tests", tests)}
          onStopChange={(stop) => change("stop_on_first_failure", stop)}
        />
      </section>

      <section className="results" aria-label="Result">
        <div className="result-head">
          <StatusLine evaluation={evaluation} note={run.isPending ? "Submitting…" : undefined} />
          {evaluation && <OutcomeBadge evaluation={evaluation} />}
          {evaluation && <ExitCode evaluation={evaluation} />}
          {evaluation && (
            <Link to={`/evaluations/${evaluation.id}`} className="details-link">
              Details
            </Link>
          )}
        </div>
        {problem && (
          <p role="alert" className="problem">
            {problem}
          </p>
        )}
        {evaluation && <TestResults evaluation={evaluation} />}
        <Outputs evaluation={evaluation} onLineClick={(line) => setCursor({ line, nonce: Date.now() })} />
        <History entries={history} current={currentId} onOpen={(id) => reopen.mutate(id)} />
      </section>
    </div>
  );
}

function NumberField(props: {
  label: string;
  bound: { minimum: number; maximum: number };
  value: number;
  onChange: (value: number) => void;
}) {
  const { label, bound, value, onChange } = props;
  // What is typed may pass through invalid values ("5" on the way to "512"): only a valid one is kept.
  const [text, setText] = useState(String(value));
  useEffect(() => setText(String(value)), [value]);
  const fits = (typed: string) => {
    const number = Number(typed);
    return typed !== "" && Number.isInteger(number) && number >= bound.minimum && number <= bound.maximum;
  };
  const valid = fits(text);
  return (
    <label>
      {label}{" "}
      <input
        type="number"
        min={bound.minimum}
        max={bound.maximum}
        step={1}
        value={text}
        aria-invalid={!valid}
        onChange={(event) => {
          setText(event.target.value);
          if (fits(event.target.value)) onChange(Number(event.target.value));
        }}
        onBlur={() => setText(String(value))}
      />
      <small className={valid ? "muted" : "invalid"}>
        {bound.minimum}–{bound.maximum}
      </small>
    </label>
  );
}

function History({ entries, current, onOpen }: { entries: HistoryEntry[]; current?: string; onOpen: (id: string) => void }) {
  return (
    <nav className="history" aria-label="Recent submissions">
      <h3>Recent submissions</h3>
      {entries.length === 0 ? (
        <p className="muted">None yet: what you run is listed here.</p>
      ) : (
        <ol>
          {entries.map((entry) => (
            <li key={entry.id}>
              <button
                type="button"
                className="link"
                aria-current={entry.id === current ? "true" : undefined}
                onClick={() => onOpen(entry.id)}
              >
                <code>{entry.firstLine || "(empty)"}</code> <span className="muted">{formatTime(entry.submittedAt)}</span>
              </button>
            </li>
          ))}
        </ol>
      )}
    </nav>
  );
}
