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
