import { render, screen, within } from "@testing-library/react";
import { evaluation } from "../test/fakeFetch";
import { TestResults } from "./TestResults";

test("each case shows as a row with its verdict and message", () => {
  render(
    <TestResults
      evaluation={evaluation({
        status: "completed",
        outcome: "tests_failed",
        tests: [{ code: "assert add(1, 2) == 3" }, { code: "assert add(1, 2) == 4" }],
        tests_passed: 1,
        tests_total: 2,
        flags: ["replaced_builtins"],
        test_results: [
          { index: 0, name: "adds", verdict: "passed", message: null, duration_ms: 3, cpu_ms: 2, stdout: "", stderr: "" },
          {
            index: 1,
            name: null,
            verdict: "failed",
            message: "line 1 failed: assert add(1, 2) == 4",
            duration_ms: 4,
            cpu_ms: 3,
            stdout: "",
            stderr: "",
          },
        ],
        provenance: { harness_version: "1", python_version: "3.11.2", timeout_seconds: 30, memory_mb: 256 },
      })}
    />,
  );

  const section = screen.getByRole("region", { name: /Tests/ });
  expect(section).toHaveTextContent("1 of 2 passed");
  const rows = within(section).getAllByRole("row").slice(1);
  expect(rows.map((row) => within(row).getAllByRole("cell").at(2)?.textContent)).toEqual(["passed", "failed"]);
  expect(rows.at(1)).toHaveTextContent("line 1 failed: assert add(1, 2) == 4");
  expect(screen.getByRole("note")).toHaveTextContent("Flagged: replaced builtins");
  expect(section).toHaveTextContent("Judged by harness 1 on Python 3.11.2");
});

test("an evaluation without tests shows no table", () => {
  const { container } = render(<TestResults evaluation={evaluation()} />);
  expect(container).toBeEmptyDOMElement();
});
