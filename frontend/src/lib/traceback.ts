// Python names the submitted program after the file the sandbox runs it from:
// /sandbox/main.py (executor-service's sandbox/workspace.py, PROGRAM_NAME).
const PROGRAM_FRAME = /File "(?:\/sandbox\/)?main\.py", line (\d+)/;

export type OutputPiece = { text: string } | { text: string; line: number };

/** Splits output into plain text and the frames that point into the program. */
export function splitTraceback(output: string): OutputPiece[] {
  const pieces: OutputPiece[] = [];
  const pattern = new RegExp(PROGRAM_FRAME.source, "g");
  let rest = 0;
  for (const match of output.matchAll(pattern)) {
    const start = match.index ?? 0;
    if (start > rest) pieces.push({ text: output.slice(rest, start) });
    pieces.push({ text: match[0], line: Number(match[1]) });
    rest = start + match[0].length;
  }
  if (rest < output.length) pieces.push({ text: output.slice(rest) });
  return pieces;
}
