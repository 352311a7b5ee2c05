// The API's times are UTC; one without an offset (SQLite keeps none) is UTC too.
export function parseTime(value: string): number {
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
}

export function formatDuration(milliseconds: number): string {
  const seconds = Math.max(0, milliseconds) / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.floor(seconds % 60)} s`;
}

export function formatTime(value: string): string {
  return new Date(parseTime(value)).toLocaleString();
}

// A datetime-local input speaks the browser's local time, to the minute; the
// API's filters take UTC instants.
export function toLocalInput(instant: string): string {
  const moment = new Date(parseTime(instant));
  return new Date(moment.getTime() - moment.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

export function fromLocalInput(value: string): string {
  return new Date(value).toISOString();
}
