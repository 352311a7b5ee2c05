// A stand-in for the network in component tests: answers by method and path,
// and records what the page asked. The real API is exercised by tests/browser.
import { vi } from "vitest";
import type { Evaluation } from "../api/client";

type Handler = (request: { url: URL; body: unknown }) => { status?: number; body: unknown };

export interface FakeFetch {
  calls: { method: string; url: URL; body: unknown; headers: Headers }[];
}

export function fakeFetch(routes: Record<string, Handler>): FakeFetch {
  const recorded: FakeFetch = { calls: [] };
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: string, init?: RequestInit) => {
      const url = new URL(input, "http://crucible.test");
      const method = init?.method ?? "GET";
      const body = init?.body ? JSON.parse(String(init.body)) : undefined;
      recorded.calls.push({ method, url, body, headers: new Headers(init?.headers) });
      const handler = routes[`${method} ${url.pathname}`];
      const answer = handler ? handler({ url, body }) : { status: 404, body: { detail: "not found" } };
      const payload = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
      return new Response(payload, {
        status: answer.status ?? 200,
        headers: { "content-type": "application/json" },
      });
    }),
  );
  return recorded;
}

export function evaluation(overrides: Partial<Evaluation> = {}): Evaluation {
  return {
    id: "ev-1",
    status: "queued",
    outcome: null,
    error: null,
    language: "python",
    priority: "normal",
    image: "python",
    image_digest: null,
    timeout_seconds: 30,
    memory_mb: 256,
    attempts: 0,
    exit_code: null,
    duration_ms: null,
    executor: null,
    code_sha256: "0".repeat(64),
    stdout_bytes: 0,
    stderr_bytes: 0,
    created_at: "2026-01-01T10:00:00Z",
    queued_at: "2026-01-01T10:00:00Z",
    started_at: null,
    finished_at: null,
    updated_at: null,
    deleted_at: null,
    code: 'print("hello")\n',
    stdin: "",
    stdout: "",
    stderr: "",
    stdout_truncated: false,
    stderr_truncated: false,
    stdout_preview: false,
    stderr_preview: false,
    queue_position: null,
    tests_passed: null,
    tests_total: null,
    tests: [],
    stop_on_first_failure: false,
    test_results: null,
    flags: [],
    provenance: null,
    ...overrides,
  };
}
