import { afterEach, beforeEach, expect, test } from "vitest";
import { fromLocalInput, toLocalInput } from "./time";

let saved: string | undefined;
beforeEach(() => {
  // Away from UTC, where showing the instant's UTC digits would look right.
  saved = process.env.TZ;
  process.env.TZ = "America/New_York";
});
afterEach(() => {
  process.env.TZ = saved;
});

test("a filter time is shown in local time and read back as the same instant", () => {
  const instant = "2026-01-31T17:30:00.000Z";

  expect(toLocalInput(instant)).toBe("2026-01-31T12:30");
  expect(fromLocalInput(toLocalInput(instant))).toBe(instant);
});
