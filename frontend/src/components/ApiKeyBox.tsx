import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { forgetApiKey, loadApiKey, saveApiKey } from "../lib/apiKey";

/** Which API key the page uses: every /api call sends it. */
export function ApiKeyBox() {
  const queryClient = useQueryClient();
  const [key, setKey] = useState(loadApiKey);
  const [typed, setTyped] = useState("");
  const use = (next: string | null) => {
    if (next) saveApiKey(next);
    else forgetApiKey();
    setKey(next);
    setTyped("");
    // Everything shown so far was read with the previous key (or none).
    void queryClient.resetQueries();
  };

  if (key) {
    return (
      <div className="api-key">
        Key <code>{key.slice(0, 10)}…</code>{" "}
        <button type="button" onClick={() => use(null)}>
          Forget key
        </button>
      </div>
    );
  }
  return (
    <form
      className="api-key"
      onSubmit={(event) => {
        event.preventDefault();
        if (typed.trim()) use(typed.trim());
      }}
    >
      <label>
        API key{" "}
        <input type="password" autoComplete="off" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="cru_…" />
      </label>{" "}
      <button type="submit">Use key</button>
    </form>
  );
}
