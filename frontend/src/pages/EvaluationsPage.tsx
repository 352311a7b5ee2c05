import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { listEvaluations } from "../api/client";
import { pageSize, priorities, statuses } from "../api/contract";
import { BatchList } from "../components/BatchList";
import { OutcomeBadge } from "../components/OutcomeBadge";
import { formatDuration, formatTime, fromLocalInput, toLocalInput } from "../lib/time";

/** Newest first; the filters and the cursor live in the URL, so a page can be linked and reloaded. */
export function EvaluationsPage() {
  const [search, setSearch] = useSearchParams();
  const status = statuses.find((s) => s === search.get("status"));
  const priority = priorities.find((p) => p === search.get("priority"));
  const since = search.get("since") ?? undefined;
  // Set by a batch's "its evaluations" link; the API filters by it.
  const batchId = search.get("batch_id") ?? undefined;
  const cursor = search.get("cursor") ?? undefined;
  // Cursors of the pages before this one, so "Newer" can go back.
  const previous = search.getAll("back");

  const { data, error, isPending } = useQuery({
    queryKey: ["evaluations", status, priority, since, batchId, cursor],
    queryFn: () => listEvaluations({ status, priority, since, batch_id: batchId, cursor, limit: pageSize.default }),
    placeholderData: keepPreviousData,
  });

  const filter = (key: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    // A new filter starts from the newest again.
    next.delete("cursor");
    next.delete("back");
    setSearch(next);
  };
  const older = (nextCursor: string) => {
    const next = new URLSearchParams(search);
    next.set("cursor", nextCursor);
    next.append("back", cursor ?? "");
    setSearch(next);
  };
  const newer = () => {
    const next = new URLSearchParams(search);
    const back = [...previous];
    const target = back.pop();
    next.delete("back");
    back.forEach((b) => next.append("back", b));
    if (target) next.set("cursor", target);
    else next.delete("cursor");
    setSearch(next);
  };

  return (
    <div className="list-page">
      <h2>Evaluations</h2>
      <BatchList />
      <form className="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status{" "}
          <select value={status ?? ""} onChange={(e) => filter("status", e.target.value)}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Priority{" "}
          <select value={priority ?? ""} onChange={(e) => filter("priority", e.target.value)}>
            <option value="">any</option>
            {priorities.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          Since{" "}
          <input
            type="datetime-local"
            value={since ? toLocalInput(since) : ""}
            onChange={(e) => filter("since", e.target.value ? fromLocalInput(e.target.value) : "")}
          />
        </label>
        {batchId && (
          <span>
            Batch <code>{batchId}</code>{" "}
            <button type="button" onClick={() => filter("batch_id", "")}>
              All evaluations
            </button>
          </span>
        )}
      </form>
      {error && <p role="alert">Could not list evaluations: {error.message}</p>}
      {isPending && <p>Loading…</p>}
      {data && (
        <>
          <table className="evaluations">
            <thead>
              <tr>
                <th scope="col">Submitted</th>
                <th scope="col">Result</th>
                <th scope="col">Priority</th>
                <th scope="col">Image</th>
                <th scope="col">Run time</th>
                <th scope="col">Id</th>
              </tr>
            </thead>
            <tbody>
              {data.items.length === 0 && (
                <tr>
                  <td colSpan={6}>No evaluation matches.</td>
                </tr>
              )}
              {data.items.map((item) => (
                <tr key={item.id}>
                  <td>{formatTime(item.created_at)}</td>
                  <td>
                    <OutcomeBadge evaluation={item} />
                  </td>
                  <td>{item.priority}</td>
                  <td>{item.image}</td>
                  <td>{item.duration_ms === null || item.duration_ms === undefined ? "" : formatDuration(item.duration_ms)}</td>
                  <td>
                    <Link to={`/evaluations/${item.id}`}>
                      <code>{item.id}</code>
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button type="button" onClick={newer} disabled={cursor === undefined}>
              Newer
            </button>
            <button type="button" onClick={() => data.next_cursor && older(data.next_cursor)} disabled={!data.next_cursor}>
              Older
            </button>
          </nav>
        </>
      )}
    </div>
  );
}
