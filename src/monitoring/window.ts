/**
 * Durations ("30m", "1h", "24h", "7d") and monitoring windows. Windows are aligned to multiples of
 * their length since the Unix epoch (UTC), so every run, schedule and report agrees on where an
 * hour or a day starts, and a window is computed the same way each time it is computed again.
 */
import { FlywheelError } from "../core/errors.js";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** The shortest window or interval accepted. */
export const MIN_DURATION_MS = 1000;
/** The longest: one year. */
export const MAX_DURATION_MS = 366 * 86_400_000;

/**
 * Milliseconds of a duration written as a positive integer and a unit (s, m, h, d, w).
 * @example parseDuration("90m", "window") // 5_400_000
 */
export function parseDuration(text: string, field: string): number {
  const m = /^\s*(\d{1,9})\s*([smhdw])\s*$/.exec(text);
  const ms = m === null ? Number.NaN : Number(m[1]) * (UNITS[m[2] as string] as number);
  if (!(ms >= MIN_DURATION_MS && ms <= MAX_DURATION_MS)) {
    throw new FlywheelError(
      "FW_REQUEST_INVALID_FIELD",
      `Invalid value for '${field}': '${text}' is not a duration from 1s to 366d written as a number and a unit (s, m, h, d, w), e.g. 1h`,
      { details: { field } },
    );
  }
  return ms;
}

/** Formats milliseconds in the largest unit that divides them. */
export function formatDuration(ms: number): string {
  for (const u of ["w", "d", "h", "m", "s"]) {
    const size = UNITS[u] as number;
    if (ms % size === 0) return `${ms / size}${u}`;
  }
  return `${ms}ms`;
}

export interface TimeWindow {
  /** Inclusive, epoch ms. */
  readonly start: number;
  /** Exclusive, epoch ms. */
  readonly end: number;
}

/** The last complete window of length `size` ending at or before `at`. */
export function lastCompleteWindow(at: number, size: number): TimeWindow {
  const end = Math.floor(at / size) * size;
  return { start: end - size, end };
}

/** The window of length `size` that contains `at`. */
export function windowContaining(at: number, size: number): TimeWindow {
  const start = Math.floor(at / size) * size;
  return { start, end: start + size };
}

/** `count` consecutive windows of length `size`, the last one ending at `end`, oldest first. */
export function windowsEndingAt(end: number, size: number, count: number): TimeWindow[] {
  const out: TimeWindow[] = [];
  for (let i = count - 1; i >= 0; i--) out.push({ start: end - (i + 1) * size, end: end - i * size });
  return out;
}

/** ISO form of a window, for messages and payloads. */
export function windowLabel(w: TimeWindow): string {
  return `${new Date(w.start).toISOString()} – ${new Date(w.end).toISOString()}`;
}
