import { render, screen } from "@testing-library/react";
import { ThroughputChart } from "./ThroughputChart";

test("one bar per minute, and a label that sums it up", () => {
  const buckets = [0, 3, 1].map((finished, minute) => ({
    start: `2026-01-01T10:0${minute}:00Z`,
    finished,
  }));

  const { container } = render(<ThroughputChart buckets={buckets} />);

  expect(container.querySelectorAll("rect.bar")).toHaveLength(3);
  expect(screen.getByRole("img")).toHaveAccessibleName("4 evaluations finished in the last hour, at most 3 in a minute");
});
