import { memoryMb, timeoutSeconds } from "../api/contract";
import { emptyDraft, HISTORY_LENGTH, loadDraft, loadHistory, remember, saveDraft } from "./drafts";

test("a saved draft comes back", () => {
  saveDraft({ ...emptyDraft, code: "print(1)\n", stdin: "x", timeout_seconds: 5, priority: "high" });

  expect(loadDraft()).toMatchObject({ code: "print(1)\n", stdin: "x", timeout_seconds: 5, priority: "high" });
});

test("values outside the API's bounds fall back to the defaults", () => {
  localStorage.setItem(
    "crucible.draft",
    JSON.stringify({ code: "x", timeout_seconds: timeoutSeconds.maximum + 1, memory_mb: 1, priority: "urgent" }),
  );

  expect(loadDraft()).toMatchObject({
    code: "x",
    timeout_seconds: timeoutSeconds.default,
    memory_mb: memoryMb.default,
    priority: "normal",
  });
});

test("a corrupt draft is ignored", () => {
  localStorage.setItem("crucible.draft", "{not json");

  expect(loadDraft()).toEqual(emptyDraft);
});

test("the history keeps the newest first, once each, and only so many", () => {
  for (let i = 0; i < HISTORY_LENGTH + 5; i++) {
    remember({ id: `ev-${i}`, submittedAt: "2026-01-01T00:00:00Z", firstLine: "" });
  }
  remember({ id: "ev-10", submittedAt: "2026-01-01T00:00:00Z", firstLine: "again" });

  const ids = loadHistory().map((e) => e.id);
  expect(ids).toHaveLength(HISTORY_LENGTH);
  expect(ids[0]).toBe("ev-10");
  expect(ids.filter((id) => id === "ev-10")).toHaveLength(1);
});
