// What survives a reload: the draft being written, and the recent submissions.
import type { EvaluationCreate } from "../api/client";
import { images, memoryMb, priorities, timeoutSeconds } from "../api/contract";

// The editor submits one program at a time, unlabelled.
export type Draft = Required<Omit<EvaluationCreate, "language" | "label">>;

export interface HistoryEntry {
  id: string;
  submittedAt: string;
  firstLine: string;
}

const DRAFT_KEY = "crucible.draft";
const HISTORY_KEY = "crucible.history";
export const HISTORY_LENGTH = 20;

export const emptyDraft: Draft = {
  code: 'print("hello")\n',
  stdin: "",
  timeout_seconds: timeoutSeconds.default,
  memory_mb: memoryMb.default,
  priority: "normal",
  image: "python",
  tests: [],
  stop_on_first_failure: false,
};

function read(key: string): unknown {
  try {
    return JSON.parse(localStorage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

const within = (value: unknown, bound: { minimum: number; maximum: number }): value is number =>
  Number.isInteger(value) && (value as number) >= bound.minimum && (value as number) <= bound.maximum;

/** The saved draft, each field checked: one saved under other bounds falls back to the default. */
export function loadDraft(): Draft {
  const saved = read(DRAFT_KEY);
  if (typeof saved !== "object" || saved === null) return emptyDraft;
  const s = saved as Record<string, unknown>;
  return {
    code: typeof s.code === "string" ? s.code : emptyDraft.code,
    stdin: typeof s.stdin === "string" ? s.stdin : "",
    timeout_seconds: within(s.timeout_seconds, timeoutSeconds) ? s.timeout_seconds : emptyDraft.timeout_seconds,
    memory_mb: within(s.memory_mb, memoryMb) ? s.memory_mb : emptyDraft.memory_mb,
    priority: priorities.find((p) => p === s.priority) ?? emptyDraft.priority,
    image: images.find((i) => i === s.image) ?? emptyDraft.image,
    // The server checks each case; a draft only keeps them.
    tests: Array.isArray(s.tests) ? (s.tests as Draft["tests"]) : [],
    stop_on_first_failure: s.stop_on_first_failure === true,
  };
}

export function saveDraft(draft: Draft): void {
  localStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
}

export function loadHistory(): HistoryEntry[] {
  const saved = read(HISTORY_KEY);
  return Array.isArray(saved)
    ? saved.filter((e): e is HistoryEntry => typeof e?.id === "string" && typeof e?.submittedAt === "string")
    : [];
}

/** Newest first, one entry per evaluation, at most HISTORY_LENGTH. */
export function remember(entry: HistoryEntry): HistoryEntry[] {
  const history = [entry, ...loadHistory().filter((e) => e.id !== entry.id)].slice(0, HISTORY_LENGTH);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(history));
  return history;
}

export function firstLine(code: string): string {
  const line = code.split("\n").find((l) => l.trim() !== "" && !l.trim().startsWith("#")) ?? "";
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
