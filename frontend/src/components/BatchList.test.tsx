import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { BatchProgress } from "../api/client";
import { fakeFetch } from "../test/fakeFetch";
import { renderPage } from "../test/render";
import { BatchList } from "./BatchList";

function batch(overrides: Partial<BatchProgress> = {}): BatchProgress {
  return {
    id: "batch-1",
    owner: "key-1",
    label: null,
    created_at: "2026-01-01T10:00:00Z",
    total: 10,
    by_status: { completed: 4, running: 2, queued: 4 },
    by_outcome: { success: 3, timeout: 1 },
    finished: 4,
    done: false,
    started_at: "2026-01-01T10:00:01Z",
    finished_at: null,
    ...overrides,
  };
}

test("a batch shows its progress, its counts by outcome and what is still to come", async () => {
  fakeFetch({ "GET /api/batches": () => ({ body: { items: [batch({ label: "HumanEval" })], next_cursor: null } }) });
  renderPage(<BatchList />);

  const bar = await screen.findByRole("progressbar", { name: "Progress of HumanEval" });
  expect(bar).toHaveAttribute("value", "4");
  expect(bar).toHaveAttribute("max", "10");
  const counts = within(screen.getByRole("list", { name: "Counts" }));
  expect(counts.getByText("success: 3")).toBeInTheDocument();
  expect(counts.getByText("timeout: 1")).toBeInTheDocument();
  expect(counts.getByText("queued: 4")).toBeInTheDocument();
  expect(counts.getByText("running: 2")).toBeInTheDocument();
  expect(counts.queryByText(/error/)).not.toBeInTheDocument();
  expect(screen.getByRole("link", { name: "its evaluations" })).toHaveAttribute(
    "href",
    "/evaluations?batch_id=batch-1",
  );
});

test("Cancel posts to the batch's cancel route; a finished batch has no Cancel", async () => {
  const api = fakeFetch({
    "GET /api/batches": () => ({
      body: { items: [batch(), batch({ id: "batch-done", done: true, finished: 10 })], next_cursor: null },
    }),
    "POST /api/batches/batch-1/cancel": () => ({ body: batch({ done: true }) }),
  });
  renderPage(<BatchList />);

  const buttons = await screen.findAllByRole("button", { name: "Cancel" });
  expect(buttons).toHaveLength(1);
  await userEvent.click(buttons[0]!);
  await waitFor(() =>
    expect(api.calls.some((c) => c.method === "POST" && c.url.pathname === "/api/batches/batch-1/cancel")).toBe(true),
  );
});

test("the list is read again while a batch is unfinished, and no more once all are done", async () => {
  let reads = 0;
  fakeFetch({
    "GET /api/batches": () => {
      reads += 1;
      // Done from the second read on.
      const item = reads === 1 ? batch() : batch({ done: true, finished: 10 });
      return { body: { items: [item], next_cursor: null } };
    },
  });
  renderPage(<BatchList />);

  await waitFor(() => expect(reads).toBe(2), { timeout: 5_000 });
  expect(await screen.findByText("10 / 10 finished")).toBeInTheDocument();
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  expect(reads).toBe(2);
}, 15_000);
