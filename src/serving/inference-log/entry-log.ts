/**
 * Where offered inference-log entries become NDJSON in segments: entries are queued by reference
 * (never waiting; a full queue drops and counts), encoded on the next turn of the event loop, and
 * written by a SegmentLog with group commit.
 *
 * By default this runs on the log's own thread (see threaded-entry-log.ts), fed through a shared
 * ring the thread polls; with `inferenceLogThread: false` it runs on the serving thread. (An
 * earlier thread fed by one message per event-loop turn cost the serving thread more than the
 * encoding it moved: the messages and wake-ups are what the ring and polling avoid.)
 */
import type { Logger } from "../../core/logger.js";
import { encodeEntryShaped, entryRows, type InferenceLogEntry } from "./log-record.js";
import type { Kind } from "./structure.js";
import { SegmentLog, type DropReason } from "./segment-log.js";
import type { SinkRecord } from "./stream-sink.js";

export interface EntryLogOptions {
  dir: string;
  groupCommitMs?: number | undefined;
  syncIntervalMs?: number | undefined;
  groupCommitRecords?: number | undefined;
  /** Most rows waiting to be written; default 100 000. */
  capacity?: number | undefined;
  maxSegmentBytes?: number | undefined;
  maxSegmentAgeMs?: number | undefined;
  /** Report each row's JSON line (for the stream sink). */
  withLines: boolean;
  logger?: Logger | undefined;
}

export interface EntryLogEvents {
  written(rows: number): void;
  dropped(rows: number, reason: DropReason): void;
  sealed(path: string): void;
  lines(records: SinkRecord[]): void;
}

/** The rows of an encoded entry as stream-sink records (msgId `<request id>:<row>`). */
export function sinkRecords(model: string, requestId: string, text: string): SinkRecord[] {
  const lines = text.split("\n");
  const records: SinkRecord[] = [];
  for (let i = 0; i < lines.length - 1; i++) records.push({ model, msgId: `${requestId}:${i}`, line: lines[i] as string });
  return records;
}

/** The model, UTC hour and structure (undefined: not described) of some of a queued item's rows. */
interface RowShape {
  model: string;
  hour: string;
  structure: readonly Readonly<Record<string, Kind>>[] | undefined;
}

/** A queued entry, or rows as NDJSON (UTF-8) once encoded (one entry's, or a batch's), with their shapes. */
interface Queued {
  entry?: InferenceLogEntry | undefined;
  bytes?: Buffer;
  shapes?: RowShape[];
}

/** The rows of one model and UTC hour in a segment, and the structures the encoder noted for them. */
export interface HintGroup {
  model: string;
  hour: string;
  parts: Set<Readonly<Record<string, Kind>>>;
}

/**
 * What the encoder noted about the rows written to each of this log's segments: every (model,
 * hour) with rows in it, and their structures; or "unknown" once a row without a described
 * structure went in. The roller types a segment's Parquet columns from these without reading its
 * rows twice; a segment without hints (this process did not write it, or restarted) is read.
 */
type SegmentHints = Map<string, HintGroup> | "unknown";

/**
 * How often written rows are fsync'd. Every group would cost an fsync each 10 ms; measured on the
 * serving benchmark (2 loaded cores) even one every 100 ms cost the serving thread a few
 * microseconds per request, as the woken I/O thread preempts it. Rows are safe from a process
 * crash as soon as they are written; this bounds what an OS crash or power loss can take.
 */
export const DEFAULT_SYNC_INTERVAL_MS = 1000;

export class EntryLog {
  private readonly log: SegmentLog<Queued>;
  /** Offered entries not yet encoded; encoded together on the next turn of the event loop. */
  private fresh: Queued[] = [];
  private encodeScheduled = false;
  private readonly hints = new Map<string, SegmentHints>();

  constructor(
    options: EntryLogOptions,
    private readonly events: EntryLogEvents,
  ) {
    this.log = new SegmentLog<Queued>(
      {
        dir: options.dir,
        syncIntervalMs: options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS,
        ...(options.groupCommitMs === undefined ? {} : { groupCommitMs: options.groupCommitMs }),
        ...(options.groupCommitRecords === undefined ? {} : { groupCommitRecords: options.groupCommitRecords }),
        ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
        ...(options.maxSegmentBytes === undefined ? {} : { maxSegmentBytes: options.maxSegmentBytes }),
        ...(options.maxSegmentAgeMs === undefined ? {} : { maxSegmentAgeMs: options.maxSegmentAgeMs }),
        onSealed: (p) => events.sealed(p),
        onGroup: (path, items) => this.noteGroup(path, items),
        onWritten: (n) => events.written(n),
        onDropped: (n, reason) => events.dropped(n, reason),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      },
      (q) => {
        // Written before its turn came to be encoded (a flush right after the offer): encoded now, once.
        if (q.bytes === undefined) {
          this.encodeInto(q, q.entry as InferenceLogEntry);
          q.entry = undefined;
        }
        return q.bytes as Buffer;
      },
    );
    this.withLines = options.withLines;
  }

  private readonly withLines: boolean;

  /** The writer token of this log's segments. */
  get token(): string {
    return this.log.token;
  }

  /** Rows offered and not yet written or dropped. */
  get backlog(): number {
    return this.log.backlog;
  }

  get written(): number {
    return this.log.written;
  }

  get dropped(): number {
    return this.log.dropped;
  }

  /** Whether `path` (one of this log's segments) may still be appended to, so must not be rolled. */
  isOpen(path: string): boolean {
    return this.log.isOpen(path);
  }

  /**
   * Encodes `entries` now and queues their rows as one item (the log thread's batch of one read of
   * the ring: one buffer and one queue slot rather than one per entry). An entry that cannot be
   * encoded is dropped and counted as `encode_error`; the rest are queued (or dropped together
   * when the queue is full or the log closed).
   */
  offerMany(entries: readonly InferenceLogEntry[]): void {
    let text = "";
    let rows = 0;
    const shapes: RowShape[] = [];
    let last: RowShape | undefined;
    for (const entry of entries) {
      const n = Math.max(1, entryRows(entry));
      let encoded: ReturnType<typeof encodeEntryShaped>;
      try {
        encoded = encodeEntryShaped(entry);
      } catch {
        this.events.dropped(n, "encode_error");
        continue;
      }
      if (this.withLines) this.events.lines(sinkRecords(entry.model, entry.requestId, encoded.text));
      text += encoded.text;
      rows += n;
      if (last === undefined || last.model !== entry.model || last.hour !== encoded.hour || last.structure !== encoded.structure) {
        last = { model: entry.model, hour: encoded.hour, structure: encoded.structure };
        shapes.push(last);
      }
    }
    if (rows > 0) this.log.offer({ bytes: Buffer.from(text, "utf8"), shapes }, rows);
  }

  /** Queues an entry's rows; false (counted as dropped) when the queue is full or the log closed. */
  offer(entry: InferenceLogEntry): boolean {
    const queued: Queued = { entry };
    if (!this.log.offer(queued, Math.max(1, entryRows(entry)))) return false;
    this.fresh.push(queued);
    if (!this.encodeScheduled) {
      this.encodeScheduled = true;
      setImmediate(() => this.encodeFresh());
    }
    return true;
  }

  flush(): Promise<void> {
    return this.log.flush();
  }

  seal(): Promise<void> {
    return this.log.seal();
  }

  close(): Promise<void> {
    return this.log.close();
  }

  /**
   * Encodes queued entries on the turn of the event loop after they were offered (their answers
   * are on the wire by then), into buffers outside the JavaScript heap: the tensors and the
   * strings of a row die young, which costs the garbage collector far less than keeping them
   * until the group is written.
   */
  private encodeFresh(): void {
    this.encodeScheduled = false;
    const items = this.fresh;
    this.fresh = [];
    for (const q of items) {
      if (q.entry === undefined) continue;
      try {
        this.encodeInto(q, q.entry);
        q.entry = undefined;
      } catch {
        // Left as an entry: encoding it again when its group is written counts it as an encode error.
      }
    }
  }

  private encodeInto(q: Queued, entry: InferenceLogEntry): void {
    const { text, hour, structure } = encodeEntryShaped(entry);
    if (this.withLines) this.events.lines(sinkRecords(entry.model, entry.requestId, text));
    q.bytes = Buffer.from(text, "utf8");
    q.shapes = [{ model: entry.model, hour, structure }];
  }

  /** Notes the models, hours and structures of a group about to be written to segment `path`. */
  private noteGroup(path: string, items: readonly Queued[]): void {
    let hints = this.hints.get(path);
    if (hints === undefined) {
      // Only the open segment gets new groups: the hints of older ones are complete.
      hints = new Map();
      this.hints.set(path, hints);
    }
    if (hints === "unknown") return;
    for (const q of items) {
      if (q.shapes === undefined) {
        this.hints.set(path, "unknown");
        return;
      }
      for (const { model, hour, structure } of q.shapes) {
        if (structure === undefined) {
          this.hints.set(path, "unknown");
          return;
        }
        const key = `${model}\u0000${hour}`;
        let g = hints.get(key);
        if (g === undefined) {
          g = { model, hour, parts: new Set() };
          hints.set(key, g);
        }
        for (const part of structure) g.parts.add(part);
      }
    }
  }

  /** The (model, hour) groups and structures of the rows this log wrote to segment `path`, when all are known. */
  hintsFor(path: string): HintGroup[] | undefined {
    const h = this.hints.get(path);
    return h === undefined || h === "unknown" ? undefined : [...h.values()];
  }

  /** Forgets a segment's hints (it was rolled, or removed). */
  forgetHints(path: string): void {
    this.hints.delete(path);
  }
}
