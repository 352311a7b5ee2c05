// The API key the page sends: kept in this browser only, until forgotten.
const KEY = "crucible.apiKey";

export function loadApiKey(): string | null {
  return localStorage.getItem(KEY);
}

export function saveApiKey(key: string): void {
  localStorage.setItem(KEY, key.trim());
}

export function forgetApiKey(): void {
  localStorage.removeItem(KEY);
}

/** Signs in from the link `./start-platform.sh` prints (`…/researcher/#key=cru_…`):
 * the key is kept and taken out of the address, so that it is neither
 * bookmarked nor shown. A fragment never reaches a server. */
export function signInFromLink(location: Location, history: History): void {
  const key = /^#key=([A-Za-z0-9_-]+)$/.exec(location.hash)?.[1];
  if (key === undefined) return;
  saveApiKey(key);
  history.replaceState(history.state, "", location.pathname + location.search);
}
