import { render, screen } from "@testing-library/react";
import { evaluation } from "../test/fakeFetch";
import { describe as describeStatus, StatusLine } from "./StatusLine";

const at = (iso: string) => Date.parse(iso);

test("a queued evaluation shows its place in line and how long it has waited", () => {
  const queued = evaluation({ queue_position: 3 });

  expect(describeStatus(queued, at("2026-01-01T10:00:04Z"))).toBe("Queued, number 3 in line · 4.0 s");
});

test("a finished one shows its outcome and the time to finish; times without an offset are UTC", () => {
  const done = evaluation({
    status: "completed",
    outcome: "memory_exceeded",
    created_at: "2026-01-01T10:00:00",
    finished_at: "2026-01-01T10:01:05",
  });

  expect(describeStatus(done, at("2026-01-02T00:00:00Z"))).toBe("Completed (memory exceeded) · 1 min 5 s");
});

test("the status is announced in a status element", () => {
  render(<StatusLine evaluation={evaluation({ status: "running" })} />);

  expect(screen.getByRole("status")).toHaveTextContent(/^Running/);
});
