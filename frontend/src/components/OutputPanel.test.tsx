import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { saveApiKey } from "../lib/apiKey";
import { fakeFetch } from "../test/fakeFetch";
import { OutputPanel } from "./OutputPanel";

const traceback = 'Traceback (most recent call last):\n  File "/sandbox/main.py", line 3, in <module>\nValueError\n';

test("a traceback line into the program moves the cursor there", async () => {
  const jumps: number[] = [];
  render(
    <OutputPanel
      label="Standard error"
      stream="stderr"
      text={traceback}
      truncated={false}
      preview={false}
      onLineClick={(line) => jumps.push(line)}
    />,
  );

  const region = screen.getByRole("region", { name: "Standard error" });
  expect(region).toHaveTextContent("ValueError");
  await userEvent.click(screen.getByRole("link", { name: /line 3/ }));
  expect(jumps).toEqual([3]);
});

test("truncated output says so and fetches the whole with the API key", async () => {
  saveApiKey("cru_test_key");
  const api = fakeFetch({ "GET /api/evaluations/ev-9/output/stdout": () => ({ body: "all of it" }) });
  URL.createObjectURL = vi.fn(() => "blob:whole");
  URL.revokeObjectURL = vi.fn();
  // jsdom cannot follow the download link; that the page asked for it is what counts.
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => undefined);
  render(
    <OutputPanel label="Standard output" stream="stdout" evaluationId="ev-9" text="x" truncated preview />,
  );
  expect(screen.getByRole("note").textContent).toMatch(/^Truncated: the program wrote more/);

  await userEvent.click(screen.getByRole("button", { name: "Full stdout" }));

  await waitFor(() => expect(URL.createObjectURL).toHaveBeenCalled());
  expect(api.calls[0]?.headers.get("authorization")).toBe("Bearer cru_test_key");
});

test("complete output has no truncation note", () => {
  render(<OutputPanel label="Standard output" stream="stdout" evaluationId="ev-9" text="x" truncated={false} preview={false} />);

  expect(screen.queryByRole("note")).toBeNull();
});
