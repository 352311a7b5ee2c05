import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { timeoutSeconds } from "../api/contract";
import { evaluation, fakeFetch } from "../test/fakeFetch";
import { renderPage } from "../test/render";
import { EditorPage } from "./EditorPage";

// Monaco needs a real browser (tests/browser drives it); here a textarea stands in.
vi.mock("../components/CodeEditor", () => ({
  default: (props: { value: string; onChange: (v: string) => void }) => (
    <textarea aria-label="Code editor" value={props.value} onChange={(e) => props.onChange(e.target.value)} />
  ),
}));

test("Run submits the draft; the result shows in the output panels", async () => {
  // jsdom has no EventSource: the page polls instead, as when the stream fails.
  const api = fakeFetch({
    "POST /api/evaluations": ({ body }) => ({ status: 202, body: evaluation({ code: (body as { code: string }).code }) }),
    "GET /api/evaluations/ev-1": () => ({
      body: evaluation({ status: "completed", outcome: "success", exit_code: 0, stdout: "hello\n" }),
    }),
  });
  renderPage(<EditorPage />);
  const editor = await screen.findByRole("textbox", { name: "Code editor" });
  await userEvent.clear(editor);
  await userEvent.click(editor);
  await userEvent.paste("print('hello')");

  await userEvent.click(screen.getByRole("button", { name: "Run" }));

  await waitFor(() => expect(screen.getByRole("region", { name: "Standard output" })).toHaveTextContent("hello"));
  expect(screen.getByRole("status")).toHaveTextContent(/^Completed \(success\)/);
  expect(screen.getByText("exit code 0")).toBeInTheDocument();
  const submitted = api.calls.find((c) => c.method === "POST")?.body;
  expect(submitted).toMatchObject({ code: "print('hello')", timeout_seconds: timeoutSeconds.default, language: "python" });
  expect(within(screen.getByRole("navigation", { name: "Recent submissions" })).getByRole("button")).toHaveTextContent(
    "print('hello')",
  );
});

test("Cancel is offered while queued and cancels", async () => {
  let cancelled = false;
  const api = fakeFetch({
    "POST /api/evaluations": () => ({ status: 202, body: evaluation() }),
    "GET /api/evaluations/ev-1": () => ({ body: evaluation(cancelled ? { status: "cancelled" } : { queue_position: 2 }) }),
    "POST /api/evaluations/ev-1/cancel": () => {
      cancelled = true;
      return { body: evaluation({ status: "cancelled", finished_at: "2026-01-01T10:00:01Z" }) };
    },
  });
  renderPage(<EditorPage />);
  expect(screen.getByRole("button", { name: "Cancel" })).toBeDisabled();

  await userEvent.click(screen.getByRole("button", { name: "Run" }));
  await waitFor(() => expect(screen.getByRole("status")).toHaveTextContent(/number 2 in line/));
  await userEvent.click(screen.getByRole("button", { name: "Cancel" }));

  await waitFor(() => expect(screen.getByRole("status")).toHaveTextContent(/^Cancelled/));
  expect(screen.getByRole("button", { name: "Cancel" })).toBeDisabled();
  expect(api.calls.some((c) => c.method === "POST" && c.url.pathname.endsWith("/cancel"))).toBe(true);
});

test("a template replaces the code, and the draft survives a new page", async () => {
  fakeFetch({});
  const first = renderPage(<EditorPage />);
  await userEvent.selectOptions(screen.getByRole("combobox", { name: /Template/ }), "NumPy (ml image)");
  expect(screen.getByRole("combobox", { name: /Image/ })).toHaveValue("ml");
  await userEvent.clear(screen.getByRole("spinbutton", { name: /Timeout/ }));
  await userEvent.type(screen.getByRole("spinbutton", { name: /Timeout/ }), "7");
  first.unmount();

  renderPage(<EditorPage />);

  const editor = await screen.findByRole("textbox", { name: "Code editor" });
  expect((editor as HTMLTextAreaElement).value).toContain("import numpy as np");
  expect(screen.getByRole("combobox", { name: /Image/ })).toHaveValue("ml");
  expect(screen.getByRole("spinbutton", { name: /Timeout/ })).toHaveValue(7);
});

test("a refused submission says why", async () => {
  fakeFetch({
    "POST /api/evaluations": () => ({
      status: 422,
      body: { detail: [{ loc: ["body", "code"], msg: "String should have at least 1 character" }] },
    }),
  });
  renderPage(<EditorPage />);
  await userEvent.clear(await screen.findByRole("textbox", { name: "Code editor" }));

  await userEvent.click(screen.getByRole("button", { name: "Run" }));

  expect(await screen.findByRole("alert")).toHaveTextContent("code: String should have at least 1 character");
});

test("tests added in the editor go with the submission", async () => {
  const api = fakeFetch({
    "POST /api/evaluations": () => ({ status: 202, body: evaluation() }),
    "GET /api/evaluations/ev-1": () => ({ body: evaluation() }),
  });
  renderPage(<EditorPage />);
  await screen.findByRole("textbox", { name: "Code editor" });

  await userEvent.click(screen.getByRole("button", { name: "Add a code test" }));
  const codeTest = within(screen.getByRole("group", { name: "Test 0" }));
  await userEvent.clear(codeTest.getByRole("textbox", { name: "Test code" }));
  await userEvent.type(codeTest.getByRole("textbox", { name: "Test code" }), "assert 1 == 1");
  await userEvent.click(screen.getByRole("button", { name: "Add a stdout test" }));
  const stdoutTest = within(screen.getByRole("group", { name: "Test 1" }));
  await userEvent.type(stdoutTest.getByRole("textbox", { name: "Expected output" }), "hello");
  await userEvent.click(screen.getByRole("checkbox", { name: /Stop at the first failure/ }));
  await userEvent.click(screen.getByRole("button", { name: "Run" }));

  await waitFor(() => expect(api.calls.some((c) => c.method === "POST")).toBe(true));
  const submitted = api.calls.find((c) => c.method === "POST")?.body;
  expect(submitted).toMatchObject({
    tests: [{ code: "assert 1 == 1" }, { stdin: "", expected_stdout: "hello", compare: "exact" }],
    stop_on_first_failure: true,
  });
});
