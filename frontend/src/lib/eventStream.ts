// Server-Sent Events over fetch. EventSource cannot send an Authorization
// header, and every /api route takes an API key; the wire format is the same.

export interface StreamHandlers {
  onEvent: (name: string, data: string) => void;
  // The stream could not be opened, or broke or ended before the caller closed
  // it: either way no more updates come through it.
  onFailure: () => void;
}

/** Opens the stream; the returned function closes it. */
export function openEventStream(url: string, headers: HeadersInit, handlers: StreamHandlers): () => void {
  const abort = new AbortController();
  void (async () => {
    try {
      const response = await fetch(url, { headers: { ...headers, accept: "text/event-stream" }, signal: abort.signal });
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new EventParser(handlers.onEvent);
      for (;;) {
        const { value, done } = await reader.read();
        // A proxy's idle timeout ends it cleanly too, at any point.
        if (done) throw new Error("the stream ended");
        parser.push(value);
      }
    } catch {
      if (!abort.signal.aborted) handlers.onFailure();
    }
  })();
  return () => abort.abort();
}

/** The text/event-stream format: `field: value` lines, an empty line ends an event. */
export class EventParser {
  private buffer = "";
  private name = "message";
  private data: string[] = [];

  constructor(private readonly onEvent: (name: string, data: string) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? "";
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length) this.onEvent(this.name, this.data.join("\n"));
      this.name = "message";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return; // a comment: the keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") this.name = value;
    else if (field === "data") this.data.push(value);
  }
}
