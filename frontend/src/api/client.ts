// The API's calls, typed by the generated `paths`: a route or a field that
// changes shape breaks the build here.
import { loadApiKey } from "../lib/apiKey";
import type { components, paths } from "./schema";

export type Evaluation = components["schemas"]["EvaluationPublic"];
export type EvaluationCreate = components["schemas"]["EvaluationCreate"];
export type EvaluationSummary = components["schemas"]["EvaluationSummary"];
export type EvaluationPage = components["schemas"]["EvaluationPage"];
export type EvaluationEvent = components["schemas"]["EvaluationEvent"];
export type EvaluationStatus = components["schemas"]["EvaluationStatus"];
export type SandboxImage = components["schemas"]["SandboxImage"];
export type QueueOverview = components["schemas"]["QueueOverview"];
export type StatisticsReport = components["schemas"]["StatisticsReport"];
export type BatchProgress = components["schemas"]["BatchProgress"];
export type BatchPage = components["schemas"]["BatchPage"];

type ListQuery = NonNullable<paths["/api/evaluations"]["get"]["parameters"]["query"]>;

// Relative to the page's origin: the front door serves the app and the API together.
export const API_ROOT = "/api";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The API key's header, when this browser has one. */
export function authHeaders(): Record<string, string> {
  const key = loadApiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${API_ROOT}${path}`, {
    ...init,
    headers: {
      accept: "application/json",
      ...authHeaders(),
      ...(init?.body ? { "content-type": "application/json" } : {}),
    },
  });
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return (await response.json()) as T;
}

async function errorMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { detail?: unknown };
    if (typeof body.detail === "string") return body.detail;
    // FastAPI's 422: a list of {loc, msg}.
    if (Array.isArray(body.detail)) {
      return body.detail
        .map((item: { loc?: unknown[]; msg?: string }) => `${(item.loc ?? []).slice(1).join(".")}: ${item.msg ?? ""}`)
        .join("; ");
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return `${response.status} ${response.statusText}`;
}

export const submitEvaluation = (submission: EvaluationCreate): Promise<Evaluation> =>
  call("/evaluations", { method: "POST", body: JSON.stringify(submission) });

export const getEvaluation = (id: string): Promise<Evaluation> =>
  call(`/evaluations/${encodeURIComponent(id)}`);

export const cancelEvaluation = (id: string): Promise<Evaluation> =>
  call(`/evaluations/${encodeURIComponent(id)}/cancel`, { method: "POST" });

export const getEvents = (id: string): Promise<EvaluationEvent[]> =>
  call(`/evaluations/${encodeURIComponent(id)}/events`);

export const listEvaluations = (query: ListQuery): Promise<EvaluationPage> => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const search = params.toString();
  return call(`/evaluations${search ? `?${search}` : ""}`);
};

export const listBatches = (query: { limit?: number; cursor?: string } = {}): Promise<BatchPage> => {
  const params = new URLSearchParams();
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.cursor) params.set("cursor", query.cursor);
  const search = params.toString();
  return call(`/batches${search ? `?${search}` : ""}`);
};

export const cancelBatch = (id: string): Promise<BatchProgress> =>
  call(`/batches/${encodeURIComponent(id)}/cancel`, { method: "POST" });

export const getQueue = (): Promise<QueueOverview> => call("/queue");

export const streamUrl = (id: string): string => `${API_ROOT}/evaluations/${encodeURIComponent(id)}/stream`;

export const fullOutputUrl = (id: string, stream: "stdout" | "stderr"): string =>
  `${API_ROOT}/evaluations/${encodeURIComponent(id)}/output/${stream}`;

/** The whole output as a blob, fetched with the API key (a plain link could not send it). */
export async function fetchFullOutput(id: string, stream: "stdout" | "stderr"): Promise<Blob> {
  const response = await fetch(fullOutputUrl(id, stream), { headers: authHeaders() });
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return response.blob();
}

export function isTerminal(status: EvaluationStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
}

export const getStatistics = (): Promise<StatisticsReport> => call("/statistics");
