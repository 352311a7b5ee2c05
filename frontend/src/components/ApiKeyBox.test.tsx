import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { fakeFetch } from "../test/fakeFetch";
import { renderPage } from "../test/render";
import { MonitorPage } from "../pages/MonitorPage";
import { ApiKeyBox } from "./ApiKeyBox";

test("a key entered once is sent with every call, until forgotten", async () => {
  const api = fakeFetch({});
  renderPage(
    <>
      <ApiKeyBox />
      <MonitorPage />
    </>,
  );

  await userEvent.type(screen.getByLabelText("API key"), "cru_abcdefghijkl");
  await userEvent.click(screen.getByRole("button", { name: "Use key" }));

  await waitFor(() => expect(api.calls.at(-1)?.headers.get("authorization")).toBe("Bearer cru_abcdefghijkl"));
  expect(screen.getByText("cru_abcdef…")).toBeInTheDocument();
  await userEvent.click(screen.getByRole("button", { name: "Forget key" }));
  expect(screen.getByLabelText("API key")).toHaveValue("");
  expect(localStorage.getItem("crucible.apiKey")).toBeNull();
});
