// Human formats for counts, rates, durations and timestamps.

const integer = new Intl.NumberFormat("en-US");

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : integer.format(value);
}

export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined) return "—";
  return `${perSecond >= 100 ? integer.format(Math.round(perSecond)) : perSecond.toFixed(1)} objects/s`;
}

/** 75 → "1 min 15 s"; null → "—". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString("en-GB", {
    year: "numeric",
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** Seconds between two ISO timestamps (the second defaults to now). */
export function secondsBetween(from: string | null | undefined, to?: string | null): number | null {
  if (!from) return null;
  const end = to ? new Date(to).getTime() : Date.now();
  return (end - new Date(from).getTime()) / 1000;
}

export function formatSchedule(minutes: number | null): string {
  if (!minutes) return "Manual only";
  if (minutes % 1440 === 0) return `Every ${minutes / 1440 === 1 ? "day" : `${minutes / 1440} days`}`;
  if (minutes % 60 === 0) return `Every ${minutes / 60 === 1 ? "hour" : `${minutes / 60} hours`}`;
  return `Every ${minutes} min`;
}
