import { EventParser, openEventStream } from "./eventStream";

test("events split across chunks are put back together; comments are skipped", () => {
  const events: [string, string][] = [];
  const parser = new EventParser((name, data) => events.push([name, data]));

  parser.push('event: evaluation\ndata: {"status":');
  parser.push('"queued"}\n\n: keep-alive\n\n');
  parser.push("data: one\r\ndata: two\r\n\r\n");

  expect(events).toEqual([
    ["evaluation", '{"status":"queued"}'],
    ["message", "one\ntwo"],
  ]);
});

function serving(body: string): typeof fetch {
  return async () => new Response(body, { headers: { "content-type": "text/event-stream" } });
}

test("a stream that ends before it is closed is a failure: the caller must look elsewhere", async () => {
  const saved = globalThis.fetch;
  globalThis.fetch = serving('event: evaluation\ndata: {"status":"running"}\n\n');
  try {
    const events: string[] = [];
    const failed = new Promise<void>((resolve) => {
      openEventStream("/stream", {}, { onEvent: (_, data) => events.push(data), onFailure: resolve });
    });

    await failed;

    expect(events).toEqual(['{"status":"running"}']);
  } finally {
    globalThis.fetch = saved;
  }
});

test("a stream closed by its caller is not a failure", async () => {
  const saved = globalThis.fetch;
  // Never answers until aborted, as a stream with nothing to say yet.
  globalThis.fetch = (_url, init) =>
    new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(new Error("aborted"))));
  try {
    let failures = 0;
    const close = openEventStream("/stream", {}, { onEvent: () => {}, onFailure: () => failures++ });

    close();
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(failures).toBe(0);
  } finally {
    globalThis.fetch = saved;
  }
});
