// Times and durations as people read them. The API's are protobuf
// Timestamps and Durations; here they become Dates and milliseconds once.
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";

export const ms = (d?: Duration): number => (d ? Number(d.seconds) * 1000 + d.nanos / 1e6 : 0);

export function duration(millis: number): Duration {
  const seconds = Math.floor(millis / 1000);
  return { $typeName: "google.protobuf.Duration", seconds: BigInt(seconds), nanos: Math.round((millis - seconds * 1000) * 1e6) };
}

export const date = (t?: Timestamp): Date | undefined => (t ? timestampDate(t) : undefined);

/** "12 ms", "1.4 s", "3 min". */
export function span(millis: number): string {
  if (millis < 1000) return `${Math.round(millis)} ms`;
  if (millis < 60_000) return `${(millis / 1000).toFixed(millis < 10_000 ? 1 : 0)} s`;
  if (millis < 3_600_000) return `${Math.round(millis / 60_000)} min`;
  if (millis < 86_400_000) return `${Math.round(millis / 3_600_000)} h`;
  return `${Math.round(millis / 86_400_000)} d`;
}

/** "2026-12-07 17:02:11" in the reader's time zone. */
export function when(t?: Timestamp | Date): string {
  const d = t instanceof Date ? t : date(t);
  if (!d) return "—";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
