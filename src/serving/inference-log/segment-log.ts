/**
 * Durable append-only NDJSON segments with group commit. Records wait in a bounded in-memory
 * queue; a group is written with one `write` at most `groupCommitMs` after its first record
 * arrived (or at once when it reaches `groupCommitRecords`), while the next group collects. A
 * written record survives the process being killed (it is in the OS's page cache); `fdatasync`
 * makes it survive an OS crash or power loss too: after every group (`syncIntervalMs` 0), or at
 * most every `syncIntervalMs`, so a busy log pays for one fsync per interval rather than one per
 * group (an fsync costs milliseconds and CPU time on the serving machine). A segment is sealed (closed for good) when the UTC hour changes,
 * when it reaches `maxSegmentBytes` or `maxSegmentAgeMs`, or after a failed write (so a torn line
 * is never followed by good ones); sealed segments are handed to `onSealed` to be rolled.
 *
 * Two ways in: `offer` never waits and drops (counted) when the queue is full: the inference
 * log, which must never slow or fail a request; `append` resolves once the records are durable
 * and rejects when they cannot be: labels, acknowledged only when stored.
 */
import { writeSync, writevSync } from "node:fs";
import { mkdir, open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { FlywheelError } from "../../core/errors.js";
import type { Logger } from "../../core/logger.js";
import { newWriterToken, registerWriter, segmentFileName, syncDir, unregisterWriter } from "./segment-files.js";

export type DropReason = "queue_full" | "encode_error" | "write_error" | "closed";

export interface SegmentLogOptions<T = unknown> {
  dir: string;
  /** Longest a record waits before its group is written; default 10 ms. */
  groupCommitMs?: number;
  /** Written groups are fsync'd at most this often; 0 (the default): every group, before `append` resolves. */
  syncIntervalMs?: number;
  /** A group is written at once when it holds this many records; default 1000. */
  groupCommitRecords?: number;
  /** Most records waiting to be written; default 100 000. */
  capacity?: number;
  /** A segment is sealed once it holds this many bytes; default 64 MiB. */
  maxSegmentBytes?: number;
  /** A segment is sealed once it is this old (and always when the UTC hour changes); default one hour. */
  maxSegmentAgeMs?: number;
  /** Called with the path of each sealed segment. */
  onSealed?: (path: string) => void;
  /** Called with the segment a group is about to be written to, and the group's items. */
  onGroup?: (path: string, items: readonly T[]) => void;
  onWritten?: (records: number) => void;
  onDropped?: (records: number, reason: DropReason) => void;
  logger?: Logger;
  now?: () => number;
}

interface Pending<T> {
  item: T;
  records: number;
  resolve?: () => void;
  reject?: (e: unknown) => void;
}

interface OpenSegment {
  path: string;
  fh: FileHandle;
  bytes: number;
  openedAt: number;
  /** Written since the last fsync. */
  dirty: boolean;
}

const HOUR_MS = 3_600_000;

export class SegmentLog<T> {
  /** Identifies this writer's segments (see segment-files.ts). */
  readonly token: string;
  private queue: Pending<T>[] = [];
  private queued = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private draining: Promise<void> | undefined;
  /** Ends the pause between two groups early (a full group, or a flush). */
  private wake: (() => void) | undefined;
  /** File operations (group writes, seals) run one at a time, in order. */
  private io: Promise<void> = Promise.resolve();
  private segment: OpenSegment | undefined;
  /** The segment being created: already "current", so no roller takes it for an abandoned one. */
  private opening: string | undefined;
  private seq = 0;
  private closed = false;
  private readonly sweeper: ReturnType<typeof setInterval>;
  written = 0;
  dropped = 0;

  private readonly groupCommitMs: number;
  private readonly syncIntervalMs: number;
  private lastSync = 0;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  /** `append` calls written but not yet fsync'd. */
  private unsynced: Pending<T>[] = [];
  private readonly groupCommitRecords: number;
  private readonly capacity: number;
  private readonly maxSegmentBytes: number;
  private readonly maxSegmentAgeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly options: SegmentLogOptions<T>,
    /** An item's lines: text, or bytes already encoded as UTF-8. */
    private readonly encode: (item: T) => string | Uint8Array,
  ) {
    this.token = newWriterToken();
    this.groupCommitMs = positive(options.groupCommitMs ?? 10, "groupCommitMs", true);
    this.syncIntervalMs = positive(options.syncIntervalMs ?? 0, "syncIntervalMs", true);
    this.groupCommitRecords = positive(options.groupCommitRecords ?? 1000, "groupCommitRecords");
    this.capacity = positive(options.capacity ?? 100_000, "capacity");
    this.maxSegmentBytes = positive(options.maxSegmentBytes ?? 64 * 1024 * 1024, "maxSegmentBytes");
    this.maxSegmentAgeMs = positive(options.maxSegmentAgeMs ?? HOUR_MS, "maxSegmentAgeMs");
    this.now = options.now ?? Date.now;
    registerWriter(this.token);
    // An idle segment is still sealed when its hour or age is up, so it gets rolled.
    this.sweeper = setInterval(() => void this.sealIfDue(), Math.min(30_000, this.maxSegmentAgeMs));
    this.sweeper.unref();
  }

  /** Records waiting to be written. */
  get backlog(): number {
    return this.queued;
  }

  /** The segment being appended to, if one is open. */
  get currentPath(): string | undefined {
    return this.segment?.path ?? this.opening;
  }

  /** Whether `path` (one of this log's segments) may still be appended to, so must not be rolled. */
  isOpen(path: string): boolean {
    return path === this.currentPath;
  }

  /** Queues `records` records for writing; false (and counted as dropped) when the queue is full. Never waits. */
  offer(item: T, records: number): boolean {
    if (this.closed || this.queued + records > this.capacity) {
      this.drop(records, this.closed ? "closed" : "queue_full");
      return false;
    }
    this.push({ item, records });
    return true;
  }

  /** Queues records and resolves once they are durable; rejects with FW_STORAGE_UNAVAILABLE when they cannot be stored. */
  append(item: T, records: number): Promise<void> {
    if (this.closed) return Promise.reject(new FlywheelError("FW_STORAGE_UNAVAILABLE", "The log is closed"));
    if (this.queued + records > this.capacity) {
      return Promise.reject(new FlywheelError("FW_STORAGE_UNAVAILABLE", `The log's write queue is full (${this.queued} of ${this.capacity} records waiting); retry later`));
    }
    return new Promise((resolve, reject) => this.push({ item, records, resolve, reject }));
  }

  /** Writes everything queued so far and resolves once it is fsync'd. */
  async flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.wake?.();
    await this.drain();
    await this.exclusive(async () => {
      if (this.segment !== undefined) await this.sync(this.segment);
    });
  }

  /** Flushes, then seals the open segment (the next record opens a new one). */
  async seal(): Promise<void> {
    await this.flush();
    await this.exclusive(() => this.closeSegment());
  }

  /** Flushes and seals; later records are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.seal();
    this.closed = true;
    clearInterval(this.sweeper);
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    unregisterWriter(this.token);
  }

  private push(p: Pending<T>): void {
    this.queue.push(p);
    this.queued += p.records;
    if (this.queued >= this.groupCommitRecords) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.wake?.();
      void this.drain();
    } else if (this.timer === undefined && this.draining === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.drain();
      }, this.groupCommitMs);
    }
  }

  private drop(records: number, reason: DropReason): void {
    this.dropped += records;
    this.options.onDropped?.(records, reason);
  }

  /**
   * Writes groups until the queue is empty; records arriving meanwhile form the next group, which
   * starts `groupCommitMs` after the last one started (sooner when it fills up or on flush), so
   * steady traffic costs at most one fsync per `groupCommitMs`.
   */
  private drain(): Promise<void> {
    if (this.draining !== undefined) return this.draining;
    if (this.queue.length === 0) return Promise.resolve();
    const run: Promise<void> = (async () => {
      while (this.queue.length > 0) {
        const started = performance.now();
        const group = this.queue;
        this.queue = [];
        // writeGroup settles every record itself; anything else escaping it must not stop the log.
        await this.exclusive(() => this.writeGroup(group)).catch((e: unknown) => this.options.logger?.error({ err: e }, "log group write failed"));
        const rest = this.groupCommitMs - (performance.now() - started);
        if (this.queue.length > 0 && this.queued < this.groupCommitRecords && rest > 0) await this.pause(rest);
      }
    })().finally(() => {
      if (this.draining === run) this.draining = undefined;
    });
    this.draining = run;
    return run;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private exclusive(op: () => Promise<void>): Promise<void> {
    const next = this.io.then(op);
    this.io = next.catch(() => undefined);
    return next;
  }

  private async writeGroup(group: Pending<T>[]): Promise<void> {
    const parts: Uint8Array[] = [];
    let size = 0;
    let records = 0;
    const done: Pending<T>[] = [];
    for (const p of group) {
      this.queued -= p.records;
      try {
        const encoded = this.encode(p.item);
        const bytes = typeof encoded === "string" ? Buffer.from(encoded, "utf8") : encoded;
        parts.push(bytes);
        size += bytes.length;
        records += p.records;
        done.push(p);
      } catch (e) {
        this.drop(p.records, "encode_error");
        this.options.logger?.warn({ err: e }, "log record could not be encoded; dropped");
        p.reject?.(e);
      }
    }
    if (size === 0) return;
    let seg: OpenSegment;
    try {
      seg = await this.segmentFor(size);
      this.options.onGroup?.(seg.path, done.map((p) => p.item));
      writeAll(seg.fh, parts, size);
      seg.bytes += size;
      seg.dirty = true;
    } catch (e) {
      this.drop(records, "write_error");
      this.options.logger?.error({ err: e, dir: this.options.dir }, "log segment write failed; records dropped");
      // A failed write may have left a torn line: nothing more goes into this segment.
      await this.closeSegment().catch(() => undefined);
      const err = new FlywheelError("FW_STORAGE_UNAVAILABLE", `Could not write the log: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      for (const p of done) p.reject?.(err);
      return;
    }
    this.written += records;
    this.options.onWritten?.(records);
    for (const p of done) if (p.resolve !== undefined) this.unsynced.push(p);
    const wait = this.syncIntervalMs - (performance.now() - this.lastSync);
    if (wait <= 0) await this.sync(seg);
    else this.syncTimer ??= setTimeout(() => {
      this.syncTimer = undefined;
      void this.exclusive(async () => {
        if (this.segment !== undefined) await this.sync(this.segment);
      });
    }, wait);
  }

  /** fsync of what was written to `seg`; then the `append` calls waiting for it resolve. */
  private async sync(seg: OpenSegment): Promise<void> {
    if (!seg.dirty) return;
    const waiting = this.unsynced;
    this.unsynced = [];
    seg.dirty = false;
    this.lastSync = performance.now();
    try {
      await seg.fh.datasync();
    } catch (e) {
      this.options.logger?.error({ err: e, dir: this.options.dir }, "log segment fsync failed");
      const err = new FlywheelError("FW_STORAGE_UNAVAILABLE", `Could not fsync the log: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      for (const p of waiting) p.reject?.(err);
      if (this.segment === seg) await this.closeSegment().catch(() => undefined);
      return;
    }
    for (const p of waiting) p.resolve?.();
  }

  private isDue(seg: OpenSegment, extraBytes: number): boolean {
    const now = this.now();
    if (Math.floor(now / HOUR_MS) !== Math.floor(seg.openedAt / HOUR_MS)) return true;
    if (now - seg.openedAt >= this.maxSegmentAgeMs) return true;
    return seg.bytes > 0 && seg.bytes + extraBytes > this.maxSegmentBytes;
  }

  private async segmentFor(extraBytes: number): Promise<OpenSegment> {
    if (this.segment !== undefined && this.isDue(this.segment, extraBytes)) await this.closeSegment();
    if (this.segment !== undefined) return this.segment;
    await mkdir(this.options.dir, { recursive: true });
    const path = join(this.options.dir, segmentFileName(this.token, ++this.seq));
    this.opening = path;
    try {
      const fh = await open(path, "a");
      this.segment = { path, fh, bytes: 0, openedAt: this.now(), dirty: false };
      // The new name must survive a crash as well as what is written under it.
      await syncDir(this.options.dir);
      return this.segment;
    } finally {
      this.opening = undefined;
    }
  }

  private async closeSegment(): Promise<void> {
    const seg = this.segment;
    if (seg === undefined) return;
    await this.sync(seg);
    if (this.segment !== seg) return;
    this.segment = undefined;
    await seg.fh.close();
    this.options.onSealed?.(seg.path);
  }

  private async sealIfDue(): Promise<void> {
    const seg = this.segment;
    if (seg === undefined || this.closed || !this.isDue(seg, 0)) return;
    await this.exclusive(async () => {
      if (this.segment === seg) await this.closeSegment();
    }).catch((e: unknown) => this.options.logger?.warn({ err: e }, "sealing a log segment failed"));
  }
}

/**
 * Appends a group with write(2) on this thread: a few KB into the page cache cost less than a
 * round trip through the thread pool (measured on the serving benchmark), and the write never
 * waits on an fsync of the same file, since file operations run one at a time.
 */
function writeAll(fh: FileHandle, parts: Uint8Array[], size: number): void {
  const written = writevSync(fh.fd, parts);
  if (written === size) return;
  // A short write (rare: a signal, a full disk): the rest, from where it stopped.
  const rest = Buffer.concat(parts).subarray(written);
  let at = 0;
  while (at < rest.length) at += writeSync(fh.fd, rest, at, rest.length - at);
}

function positive(value: number, name: string, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new FlywheelError("FW_CONFIG_INVALID", `${name} must be a ${allowZero ? "non-negative" : "positive"} number, got ${value}`);
  }
  return value;
}
