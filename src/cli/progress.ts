/**
 * The progress line of `flywheel predict` on stderr: rows scored (of the total when the input's
 * footer tells it) and rows per second, then the write, redrawn in place at most every 100 ms.
 */
import type { ScoringProgress } from "../serving/batch-scoring.js";

const BAR_WIDTH = 24;

const count = (n: number): string => Math.round(n).toLocaleString("en-US");

function bar(percent: number): string {
  const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round((percent / 100) * BAR_WIDTH)));
  return `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${String(Math.floor(percent)).padStart(3)}%`;
}

/**
 * One line for a progress report, e.g.
 * `scoring [############............]  50%  75,000/150,000 rows  41,234 rows/s`.
 */
export function describeProgress(p: ScoringProgress, elapsedMs: number): string {
  if (p.phase === "write") return p.percent === undefined ? "writing" : `writing ${bar(p.percent)}`;
  const rate = elapsedMs > 0 ? `  ${count((p.rows * 1000) / elapsedMs)} rows/s` : "";
  if (p.totalRows === undefined || p.totalRows === 0) return `scoring ${count(p.rows)} rows${rate}`;
  return `scoring ${bar((100 * p.rows) / p.totalRows)}  ${count(p.rows)}/${count(p.totalRows)} rows${rate}`;
}

export class ProgressLine {
  private readonly startedAt: number;
  private lastDrawAt = Number.NEGATIVE_INFINITY;
  private shown = "";
  private phase: ScoringProgress["phase"] | undefined;
  private latest: ScoringProgress | undefined;

  constructor(
    private readonly write: (text: string) => void,
    private readonly now: () => number = () => performance.now(),
    private readonly intervalMs = 100,
  ) {
    this.startedAt = now();
  }

  /** Takes a report; redraws when the last drawing is `intervalMs` old or the phase changed. */
  readonly update = (p: ScoringProgress): void => {
    const t = this.now();
    if (this.phase !== undefined && p.phase !== this.phase && this.latest !== undefined) {
      // Leave the finished phase on its own line, as it ended.
      this.draw(this.latest, t);
      this.write("\n");
      this.shown = "";
    } else if (p.phase === this.phase && t - this.lastDrawAt < this.intervalMs) {
      this.latest = p;
      return;
    }
    this.phase = p.phase;
    this.latest = p;
    this.draw(p, t);
  };

  /** Draws the last report and ends the line. */
  end(): void {
    if (this.latest === undefined) return;
    this.draw(this.latest, this.now());
    this.write("\n");
    this.latest = undefined;
  }

  private draw(p: ScoringProgress, t: number): void {
    const text = describeProgress(p, t - this.startedAt);
    // Pad over a longer line drawn before, so no stale characters remain.
    this.write(`\r${text.padEnd(this.shown.length)}`);
    this.shown = text;
    this.lastDrawAt = t;
  }
}
