import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { evaluation, fakeFetch } from "../test/fakeFetch";
import { renderPage } from "../test/render";
import { EvaluationsPage } from "./EvaluationsPage";

const summary = (id: string) => {
  const { code: _c, stdin: _i, stdout: _o, stderr: _e, ...rest } = evaluation({ id, status: "completed", outcome: "success" });
  return rest;
};

test("pages follow next_cursor and come back; a filter starts from the newest", async () => {
  const api = fakeFetch({
    "GET /api/evaluations": ({ url }) =>
      url.searchParams.get("cursor") === "page-2"
        ? { body: { items: [summary("older-one")], next_cursor: null } }
        : { body: { items: [summary("newest-one")], next_cursor: "page-2" } },
  });
  renderPage(<EvaluationsPage />, "/evaluations");
  expect(await screen.findByText("newest-one")).toBeInTheDocument();

  await userEvent.click(screen.getByRole("button", { name: "Older" }));
  expect(await screen.findByText("older-one")).toBeInTheDocument();
  expect(screen.getByRole("button", { name: "Older" })).toBeDisabled();

  await userEvent.click(screen.getByRole("button", { name: "Newer" }));
  expect(await screen.findByText("newest-one")).toBeInTheDocument();

  await userEvent.selectOptions(screen.getByRole("combobox", { name: /Status/ }), "failed");
  await waitFor(() => expect(api.calls.at(-1)?.url.searchParams.get("status")).toBe("failed"));
  expect(api.calls.at(-1)?.url.searchParams.has("cursor")).toBe(false);
});

test("a batch's link lists only its evaluations, and the filter can be cleared", async () => {
  const api = fakeFetch({
    "GET /api/evaluations": () => ({ body: { items: [summary("in-batch")], next_cursor: null } }),
    "GET /api/batches": () => ({ body: { items: [], next_cursor: null } }),
  });
  renderPage(<EvaluationsPage />, "/evaluations?batch_id=batch-7");
  expect(await screen.findByText("in-batch")).toBeInTheDocument();
  const listed = api.calls.filter((c) => c.url.pathname === "/api/evaluations");
  expect(listed.at(-1)?.url.searchParams.get("batch_id")).toBe("batch-7");

  await userEvent.click(screen.getByRole("button", { name: "All evaluations" }));
  await waitFor(() =>
    expect(api.calls.filter((c) => c.url.pathname === "/api/evaluations").at(-1)?.url.searchParams.has("batch_id")).toBe(
      false,
    ),
  );
});
