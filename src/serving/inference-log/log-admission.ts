/**
 * How served requests' entries enter the inference log.
 *
 * An offered entry waits here until the end of the event-loop turn, then goes to the writer (the
 * log thread's ring, or an EntryLog on the serving thread). So copying it never delays the answer
 * it comes from: a turn's answers are on the wire before their entries are copied. At one request
 * at a time that copy was a few microseconds of each request's latency; after the answer it
 * overlaps with the client reading it.
 *
 * When `capacity` rows already wait (here and in the writer), the overflow policy decides:
 * - "drop" hands the entry on anyway; the writer drops it and counts it (`queue_full`), and the
 *   request is answered at once.
 * - "backpressure" holds the request until there is room, first come first served, so the server
 *   slows to the pace of the log instead of losing rows. It waits at most `maxWaitMs`; the entry
 *   is then handed on, and dropped and counted if there is still no room, so a stalled disk cannot
 *   hang the server.
 */
import { entryRows, type InferenceLogEntry } from "./log-record.js";

export type OverflowPolicy = "drop" | "backpressure";

/** Where admitted entries go: the log's writer. */
export interface AdmissionTarget {
  /** Rows handed over and not yet written or dropped. */
  readonly backlog: number;
  /** Queues the entry's rows, or drops and counts them (full, or closed). */
  offer(entry: InferenceLogEntry): boolean;
}

export interface AdmissionOptions {
  policy: OverflowPolicy;
  /** Most rows waiting to be written, here and in the writer together. */
  capacity: number;
  /** The longest a request waits for room under "backpressure". */
  maxWaitMs: number;
}

interface Waiter {
  entry: InferenceLogEntry;
  rows: number;
  resume: () => void;
  timer: ReturnType<typeof setTimeout>;
}

export class LogAdmission {
  private pending: InferenceLogEntry[] = [];
  private pendingRows = 0;
  private scheduled = false;
  /** Requests waiting for room (backpressure), oldest first. */
  private readonly waiting: Waiter[] = [];
  /** Requests that had to wait for room, so far. */
  waited = 0;

  constructor(
    private readonly target: AdmissionTarget,
    private readonly options: AdmissionOptions,
  ) {}

  /** Rows offered and not yet handed to the writer (waiting requests not counted). */
  get backlog(): number {
    return this.pendingRows;
  }

  /** Requests waiting for room now. */
  get waitingRequests(): number {
    return this.waiting.length;
  }

  /**
   * Takes the entry of a served request. Undefined when it was taken at once; under
   * "backpressure", when the log is full, a promise that resolves once it has been taken (or
   * given up on after `maxWaitMs`). Never rejects.
   */
  offer(entry: InferenceLogEntry): Promise<void> | undefined {
    const rows = Math.max(1, entryRows(entry));
    if (this.options.policy === "backpressure" && (this.waiting.length > 0 || !this.hasRoom(rows))) {
      this.waited++;
      return new Promise<void>((resolve) => {
        const waiter: Waiter = { entry, rows, resume: resolve, timer: setTimeout(() => this.giveUp(waiter), this.options.maxWaitMs) };
        this.waiting.push(waiter);
      });
    }
    this.admit(entry, rows);
    return undefined;
  }

  /** Hands every entry taken so far to the writer now (before a flush, a seal, a count). */
  drain(): void {
    if (this.pending.length === 0) return;
    const entries = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    for (const e of entries) this.target.offer(e);
  }

  /** The writer wrote or dropped rows: waiting requests are let in, in order, while there is room. */
  wake(): void {
    while (this.waiting.length > 0) {
      const w = this.waiting[0] as Waiter;
      if (!this.hasRoom(w.rows)) return;
      this.waiting.shift();
      this.letIn(w);
    }
  }

  /** Lets every waiting request go, its entry taken whether or not there is room (the log is closing). */
  release(): void {
    for (const w of this.waiting.splice(0)) this.letIn(w);
    this.drain();
  }

  /** Room for `rows` more; an entry larger than the whole capacity gets in when nothing else waits (and is then dropped by the writer). */
  private hasRoom(rows: number): boolean {
    const backlog = this.target.backlog + this.pendingRows;
    return backlog + rows <= this.options.capacity || backlog === 0;
  }

  private letIn(w: Waiter): void {
    clearTimeout(w.timer);
    this.admit(w.entry, w.rows);
    w.resume();
  }

  private giveUp(w: Waiter): void {
    const i = this.waiting.indexOf(w);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    // Handed on now: the writer drops and counts it if there is still no room.
    this.drain();
    this.target.offer(w.entry);
    w.resume();
    // Those behind it waited in line, and may fit.
    this.wake();
  }

  private admit(entry: InferenceLogEntry, rows: number): void {
    this.pending.push(entry);
    this.pendingRows += rows;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.afterTurn);
    }
  }

  private readonly afterTurn = (): void => {
    this.scheduled = false;
    this.drain();
  };
}
