/**
 * The inference log and its labels, on local files: each served prediction is offered to a
 * bounded queue (taken after its answer is sent; when the queue is full it is dropped and counted,
 * or, under the "backpressure" policy, its request waits for room), written to durable NDJSON segments
 * with group commit, optionally published to the stream bus, and rolled into hourly Parquet
 * partitions that DuckDB queries. Labels posted later are stored the same way and joined by the
 * reader (see reader.ts).
 *
 * Layout under the data directory:
 *   inference-log/segments/<host>_<pid>_<token>_<seq>.ndjson
 *   inference-log/parquet/model=<name>/date=YYYY-MM-DD/hour=HH/<segment>.parquet
 *   labels/segments/...ndjson, labels/parquet/date=YYYY-MM-DD/hour=HH/<segment>.parquet
 */
import { join } from "node:path";
import { FlywheelError } from "../../core/errors.js";
import type { Logger } from "../../core/logger.js";
import { OfflineDb } from "../../storage/offline/duckdb.js";
import type { StreamBus } from "../../storage/stream/stream-bus.js";
import { LABEL_COLUMNS, encodeLabels, type LabelInput } from "./labels.js";
import { EntryLog, type EntryLogEvents, type EntryLogOptions } from "./entry-log.js";
import { CORE_COLUMNS, type InferenceLogEntry } from "./log-record.js";
import { InferenceLogReader, logPaths, type LogPaths } from "./reader.js";
import { ROLL_DB_OPTIONS, rollSegment, type RollSpec } from "./roller.js";
import { isAbandoned, listSegments, parseSegmentName } from "./segment-files.js";
import { SegmentLog, type DropReason } from "./segment-log.js";
import { StreamSink, inferenceStreamNames, type SinkRecord } from "./stream-sink.js";
import { LogAdmission, type OverflowPolicy } from "./log-admission.js";
import { ThreadedEntryLog, type EntryWriter } from "./threaded-entry-log.js";

export interface InferenceLogOptions {
  /** Longest a row waits before its group is written (it then survives the process being killed); default 10 ms. */
  groupCommitMs?: number;
  /** Written rows are fsync'd (then survive an OS crash or power loss) at most this often; default 1000 ms. */
  syncIntervalMs?: number;
  /** A group is written at once when it holds this many rows; default 1000. */
  groupCommitRecords?: number;
  /** Most rows waiting to be written; default 100 000. What happens to more is the `overflow` policy's. */
  capacity?: number;
  /**
   * A row that finds `capacity` rows waiting: "drop" (the default) drops and counts it
   * (`queue_full`) and answers its request at once; "backpressure" holds its request until there is
   * room (the server slows to the log's pace), at most `maxWaitMs`, then drops and counts it.
   */
  overflow?: OverflowPolicy;
  /** The longest a request waits for room under "backpressure"; default 1000 ms. */
  maxWaitMs?: number;
  /** Segments are sealed (then rolled into Parquet) at this size, at this age, and when the UTC hour changes. */
  maxSegmentBytes?: number;
  maxSegmentAgeMs?: number;
  /** How often sealed and abandoned segments are looked for and rolled; default 60 s. */
  rollIntervalMs?: number;
  /** Also publish every row to this bus, as `flywheel.<project>.inference.<model>`. */
  bus?: StreamBus;
  /** The feature-store project, which names the stream subjects; default "default". */
  project?: string;
  /** Rows waiting to be published to the bus; default 100 000. */
  streamCapacity?: number;
  logger?: Logger;
  /**
   * Encode and write inference rows on a thread of their own (the default), so the serving thread
   * only copies each entry into a shared ring; false keeps them on the serving thread.
   */
  thread?: boolean;
}

/** What the log reports to metrics as it goes. */
export interface InferenceLogEvents {
  /** Inference rows written to a segment (they survive the process being killed; fsync'd within `syncIntervalMs`). */
  written(rows: number): void;
  /** Rows dropped: from the local log (queue_full, encode_error, write_error, closed) or from the stream sink (stream). */
  dropped(rows: number, reason: DropReason | "stream"): void;
  labelsWritten(labels: number): void;
  published(rows: number): void;
  /** A sealed segment could not be rolled into Parquet; it is kept and tried again at the next roll. */
  rollFailed?(segments: number): void;
}

export interface InferenceLogStats {
  written: number;
  dropped: number;
  backlog: number;
  /** Requests waiting for room now, and that have waited so far (the "backpressure" policy). */
  waiting: number;
  waited: number;
  labelsWritten: number;
  /** Segment rolls into Parquet that failed (each segment is kept and tried again later). */
  rollFailures: number;
  stream?: { published: number; dropped: number; backlog: number };
}

export class InferenceLog {
  readonly paths: LogPaths;
  readonly reader: InferenceLogReader;
  private readonly events = new Set<InferenceLogEvents>();
  /** Set by open(): the log thread's writer, or an EntryLog on this thread. */
  private log!: EntryWriter;
  /** Set by open(): where offered entries wait for the end of the turn (and, under backpressure, for room). */
  private admission!: LogAdmission;
  private readonly entryOptions: EntryLogOptions;
  private readonly entryEvents: EntryLogEvents;
  private readonly labels: SegmentLog<readonly LabelInput[]>;
  private sink: StreamSink | undefined;
  private rolling: Promise<string[]> = Promise.resolve([]);
  private rollDb: OfflineDb | undefined;
  /** Told about every Parquet file written while an explicit roll() waits. */
  private readonly rollWatchers = new Set<(files: string[]) => void>();
  private readonly scanner: ReturnType<typeof setInterval>;
  private closed = false;
  labelsWritten = 0;
  rollFailures = 0;

  private constructor(
    dataDir: string,
    private readonly options: InferenceLogOptions,
  ) {
    this.paths = logPaths(dataDir);
    this.reader = new InferenceLogReader(dataDir);
    const logger = options.logger;
    const onSealed = () => void this.rollQuietly();
    this.entryOptions = {
      dir: this.paths.inferenceSegments,
      groupCommitMs: options.groupCommitMs,
      syncIntervalMs: options.syncIntervalMs,
      groupCommitRecords: options.groupCommitRecords,
      capacity: options.capacity,
      maxSegmentBytes: options.maxSegmentBytes,
      maxSegmentAgeMs: options.maxSegmentAgeMs,
      withLines: options.bus !== undefined,
      logger,
    };
    this.entryEvents = {
      sealed: onSealed,
      written: (n: number) => {
        this.emit((e) => e.written(n));
        this.admission?.wake();
      },
      dropped: (n: number, reason: DropReason) => {
        this.emit((e) => e.dropped(n, reason));
        this.admission?.wake();
      },
      lines: (records: SinkRecord[]) => this.sink?.offer(records),
    };
    this.labels = new SegmentLog<readonly LabelInput[]>(
      {
        dir: this.paths.labelSegments,
        // Labels are acknowledged to the client: each group is fsync'd before the answer.
        groupCommitMs: Math.min(options.groupCommitMs ?? 10, 10),
        syncIntervalMs: 0,
        ...(options.maxSegmentAgeMs === undefined ? {} : { maxSegmentAgeMs: options.maxSegmentAgeMs }),
        onSealed,
        onWritten: (n) => {
          this.labelsWritten += n;
          this.emit((e) => e.labelsWritten(n));
        },
        ...(logger === undefined ? {} : { logger }),
      },
      encodeLabels,
    );
    this.scanner = setInterval(() => void this.rollQuietly(), options.rollIntervalMs ?? 60_000);
    this.scanner.unref();
  }

  /**
   * Opens the log in `dataDir`; segments left by a writer that is gone (a crash) are rolled into
   * Parquet in the background.
   * @example const log = await InferenceLog.open("./flywheel-data", { bus, project: "default" });
   */
  static async open(dataDir: string, options: InferenceLogOptions = {}): Promise<InferenceLog> {
    const maxWaitMs = options.maxWaitMs ?? 1000;
    if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) throw new Error(`maxWaitMs must be a non-negative number, got ${maxWaitMs}`);
    const log = new InferenceLog(dataDir, options);
    const threaded = options.thread === false ? undefined : await ThreadedEntryLog.start(log.entryOptions, log.entryEvents);
    log.log = threaded ?? new EntryLog(log.entryOptions, log.entryEvents);
    log.admission = new LogAdmission(log.log, { policy: options.overflow ?? "drop", capacity: options.capacity ?? 100_000, maxWaitMs });
    if (options.bus !== undefined) {
      log.sink = await StreamSink.open(options.bus, inferenceStreamNames(options.project ?? "default"), {
        ...(options.streamCapacity === undefined ? {} : { capacity: options.streamCapacity }),
        onPublished: (n) => log.emit((e) => e.published(n)),
        onDropped: (n) => log.emit((e) => e.dropped(n, "stream")),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
    }
    void log.rollQuietly();
    return log;
  }

  /**
   * Takes one served request's rows (copied to the writer at the end of this turn, after the
   * answers). Undefined when taken at once; under "backpressure" with the log full, a promise that
   * resolves once they are taken (or, after `maxWaitMs`, dropped and counted). Never rejects.
   */
  offer(entry: InferenceLogEntry): Promise<void> | undefined {
    return this.admission.offer(entry);
  }

  /** Stores labels; resolves once they are durable. */
  addLabels(labels: readonly LabelInput[]): Promise<void> {
    return this.labels.append(labels, labels.length);
  }

  /** Rows waiting to be written (and, with a stream, to be published); not those of requests waiting for room. */
  get backlog(): number {
    return this.log.backlog + this.admission.backlog + (this.sink?.backlog ?? 0);
  }

  /** Requests waiting for room in the log now (only under "backpressure"). */
  get waiting(): number {
    return this.admission.waitingRequests;
  }

  /** Requests that had to wait for room so far (only under "backpressure"). */
  get waited(): number {
    return this.admission.waited;
  }

  stats(): InferenceLogStats {
    return {
      written: this.log.written,
      dropped: this.log.dropped + (this.sink?.dropped ?? 0),
      backlog: this.backlog,
      waiting: this.waiting,
      waited: this.waited,
      labelsWritten: this.labelsWritten,
      rollFailures: this.rollFailures,
      ...(this.sink === undefined ? {} : { stream: { published: this.sink.published, dropped: this.sink.dropped, backlog: this.sink.backlog } }),
    };
  }

  /** Reports to `events` until the returned function is called. */
  subscribe(events: InferenceLogEvents): () => void {
    this.events.add(events);
    return () => {
      this.events.delete(events);
    };
  }

  /** Everything offered so far is durable (and published, with a stream) when this resolves. */
  async flush(): Promise<void> {
    this.admission.drain();
    await Promise.all([this.log.flush(), this.labels.flush()]);
    await this.sink?.flush();
  }

  /** Seals the open segments and rolls every sealed or abandoned segment into Parquet; returns the files written. */
  async roll(): Promise<string[]> {
    const files: string[] = [];
    const watch = (f: string[]) => void files.push(...f);
    this.rollWatchers.add(watch);
    try {
      this.admission.drain();
      // Sealing starts rolls of its own; the one after them finds whatever they left.
      await Promise.all([this.log.seal(), this.labels.seal()]);
      await this.rollPending();
      return files;
    } finally {
      this.rollWatchers.delete(watch);
    }
  }

  /** Flushes, seals, rolls what this process wrote, and stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.scanner);
    // Requests still waiting for room go now; their rows are written if they fit.
    this.admission.release();
    await Promise.all([this.log.close(), this.labels.close()]);
    await this.sink?.flush();
    try {
      await this.rollPending();
    } catch (e) {
      this.options.logger?.warn({ err: e }, "inference log: rolling segments at shutdown failed; they are rolled at the next start");
    }
    this.rollDb?.close();
    this.rollDb = undefined;
  }

  private emit(fn: (e: InferenceLogEvents) => void): void {
    for (const e of this.events) fn(e);
  }

  private rollQuietly(): Promise<void> {
    return this.rollPending().then(
      () => undefined,
      (e: unknown) => {
        // Failed segments were logged one by one as they failed.
        if (!(e instanceof RollFailed)) this.options.logger?.warn({ err: e }, "inference log: rolling segments into Parquet failed; retrying later");
      },
    );
  }

  /**
   * Rolls sealed and abandoned segments, one roll at a time. A segment that fails is counted,
   * logged and kept (rolled again next time); the others are still rolled, then the roll rejects.
   */
  private rollPending(): Promise<string[]> {
    const next = this.rolling.catch(() => []).then(async () => {
      const written: string[] = [];
      const failed: { path: string; err: unknown }[] = [];
      const inference: RollSpec = { parquetRoot: this.paths.inferenceParquet, timeField: "ts", fixed: CORE_COLUMNS, byModel: true };
      const labels: RollSpec = { parquetRoot: this.paths.labelParquet, timeField: "received", fixed: LABEL_COLUMNS, byModel: false, fixedOnly: true };
      for (const [dir, log, spec] of [
        [this.paths.inferenceSegments, this.log, inference],
        [this.paths.labelSegments, this.labels, labels],
      ] as const) {
        for (const name of await listSegments(dir)) {
          const path = join(dir, name);
          const owner = parseSegmentName(name);
          if (owner === undefined) continue;
          // This log's own segments once sealed; anyone else's once their writer is gone.
          if (owner.token === log.token ? log.isOpen(path) : !isAbandoned(owner)) continue;
          this.rollDb ??= await OfflineDb.open(ROLL_DB_OPTIONS);
          let files: string[];
          try {
            files = await rollSegment(this.rollDb, path, spec, log === this.log ? this.log.hintsFor(path) : undefined);
            if (log === this.log) this.log.forgetHints(path);
          } catch (e) {
            failed.push({ path, err: e });
            this.rollFailures++;
            this.emit((ev) => ev.rollFailed?.(1));
            this.options.logger?.error({ err: e, segment: path }, "inference log: rolling a segment into Parquet failed; it is kept and rolled again later");
            // A fresh database for the next one: nothing a failed query left behind carries over.
            this.rollDb.close();
            this.rollDb = undefined;
            continue;
          }
          for (const w of this.rollWatchers) w(files);
          written.push(...files);
        }
      }
      if (failed.length > 0) throw new RollFailed(failed);
      return written;
    });
    this.rolling = next;
    return next;
  }
}

/** Some segments could not be rolled (each was logged as it failed, and kept). */
class RollFailed extends FlywheelError {
  constructor(failed: readonly { path: string; err: unknown }[]) {
    const first = failed[0];
    const reason = first?.err instanceof Error ? first.err.message : String(first?.err);
    super("FW_STORAGE_UNAVAILABLE", `Could not roll ${failed.length} inference log segment(s) into Parquet; they are kept and rolled again later (first: ${first?.path}: ${reason})`, { cause: first?.err });
  }
}
