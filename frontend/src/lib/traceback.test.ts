import { splitTraceback } from "./traceback";

test("frames in the submitted program become lines to jump to, others stay text", () => {
  const stderr =
    "Traceback (most recent call last):\n" +
    '  File "/sandbox/main.py", line 6, in <module>\n' +
    '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n' +
    '  File "/sandbox/main.py", line 2, in divide\n' +
    "ZeroDivisionError: division by zero\n";

  const lines = splitTraceback(stderr).flatMap((piece) => ("line" in piece ? [piece.line] : []));

  expect(lines).toEqual([6, 2]);
  expect(
    splitTraceback(stderr)
      .map((p) => p.text)
      .join(""),
  ).toBe(stderr);
});

test("output without a traceback is one piece of text", () => {
  expect(splitTraceback("hello\n")).toEqual([{ text: "hello\n" }]);
});
