// An evaluation kept up to date: the API's event stream pushes each change;
// polling takes over only when the stream fails.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { authHeaders, type Evaluation, getEvaluation, isTerminal, streamUrl } from "../api/client";
import { openEventStream } from "../lib/eventStream";

const POLL_INTERVAL_MS = 1000;

export const evaluationKey = (id: string) => ["evaluation", id] as const;

export function useEvaluation(id: string | undefined) {
  const queryClient = useQueryClient();
  const [streamFailed, setStreamFailed] = useState(false);
  const query = useQuery({
    queryKey: evaluationKey(id ?? ""),
    queryFn: () => getEvaluation(id ?? ""),
    enabled: id !== undefined,
    // Fresh until the stream (or the polling that replaces it) says otherwise:
    // an evaluation the page has just been handed is not fetched again.
    staleTime: Infinity,
    refetchInterval: (q) =>
      streamFailed && q.state.data && !isTerminal(q.state.data.status) ? POLL_INTERVAL_MS : false,
  });
  const finished = query.data !== undefined && isTerminal(query.data.status);

  useEffect(() => {
    if (id === undefined || finished) return;
    setStreamFailed(false);
    const close = openEventStream(streamUrl(id), authHeaders(), {
      onEvent: (name, data) => {
        if (name === "evaluation") queryClient.setQueryData(evaluationKey(id), JSON.parse(data) as Evaluation);
      },
      onFailure: () => setStreamFailed(true),
    });
    return close;
  }, [id, finished, queryClient]);

  return query;
}
