/**
 * The inference log's entries, encoded and written on a thread of their own: the serving thread
 * copies each entry's fields and tensor bytes into a shared ring (EntryRing) and goes on; the log
 * thread (log-thread.ts) reads them back, encodes the NDJSON rows and writes the segments with
 * group commit, as EntryLog does on the serving thread. What the two threads share besides the
 * ring are messages: the thread reports rows written and dropped, segments sealed (with the hints
 * the roller types them from) and stream lines; this side asks it to flush, seal and close.
 *
 * On the serving benchmark the log cost the serving thread about a tenth of its time per request
 * (encoding, queueing, writing, and the garbage of all three); copying into the ring costs it a
 * small fraction of that. Entries the ring does not carry (string tensors, features read from the
 * store) are posted to the thread as messages. Should the thread die, the log carries on with an
 * EntryLog on the serving thread.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { FlywheelError } from "../../core/errors.js";
import { EntryLog, type EntryLogEvents, type EntryLogOptions, type HintGroup } from "./entry-log.js";
import { EntryRing, type EntryDescriptor } from "./entry-ring.js";
import { entryRows, type InferenceLogEntry } from "./log-record.js";
import { registerWriter, unregisterWriter } from "./segment-files.js";
import type { DropReason } from "./segment-log.js";
import type { SinkRecord } from "./stream-sink.js";

/** What the serving side of the log offers InferenceLog (EntryLog has the same). */
export interface EntryWriter {
  readonly token: string;
  readonly backlog: number;
  readonly written: number;
  readonly dropped: number;
  isOpen(path: string): boolean;
  hintsFor(path: string): HintGroup[] | undefined;
  forgetHints(path: string): void;
  offer(entry: InferenceLogEntry): boolean;
  flush(): Promise<void>;
  seal(): Promise<void>;
  close(): Promise<void>;
}

/** What the log thread is started with. */
export interface LogThreadData {
  ring: SharedArrayBuffer;
  descriptors: MessagePort;
  options: Omit<EntryLogOptions, "logger">;
  logLevel: string;
}

export type ToLogThread = { type: "entry"; entry: InferenceLogEntry } | { type: "flush" | "seal" | "close"; id: number };

export type FromLogThread =
  | { type: "ready"; token: string }
  | { type: "written"; n: number }
  | { type: "dropped"; n: number; reason: DropReason }
  | { type: "sealed"; path: string; hints: HintGroup[] | undefined }
  | { type: "lines"; records: SinkRecord[] }
  | { type: "log"; line: string }
  | { type: "done"; id: number; error?: string };

/** Descriptors kept per model (the most recent first) and models kept, as the log plans are. */
const MAX_DESCRIPTORS_PER_MODEL = 16;
const MAX_MODELS = 1000;
/** Rows waiting to be written, at most (EntryLog's default). */
const DEFAULT_CAPACITY = 100_000;
/** Ring bytes per row of capacity, and the ring's bounds. */
const RING_BYTES_PER_ROW = 64;
const MIN_RING_BYTES = 1 << 20;
const MAX_RING_BYTES = 64 << 20;
/** Entries larger than this share of the ring are posted as messages instead. */
const MAX_RECORD_SHARE = 8;

/** The compiled log thread next to this module (from the sources, under vitest: the build's). */
function threadScript(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const script = here.endsWith(".ts")
    ? here.replace(/([\\/])src([\\/]serving[\\/]inference-log[\\/])threaded-entry-log\.ts$/, "$1dist$1src$2log-thread.js")
    : join(dirname(here), "log-thread.js");
  return script !== here && existsSync(script) ? script : undefined;
}

const PINO_LEVELS: Record<number, "trace" | "debug" | "info" | "warn" | "error" | "fatal"> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

/** A tensor as a plain object (ONNX Runtime's Tensor reads its data through a getter, which a message would lose). */
const plainTensor = (t: { type: string; dims: readonly number[]; data: unknown }) => ({ type: t.type, dims: [...t.dims], data: t.data });

export class ThreadedEntryLog implements EntryWriter {
  private readonly descriptors = new Map<string, EntryDescriptor[]>();
  private nextDescriptor = 1;
  private readonly calls = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  private nextCall = 1;
  /** Rows handed to the thread, and what it reported of them. */
  private offeredRows = 0;
  private writtenRows = 0;
  private droppedRows = 0;
  /** Of the dropped rows, those the thread reported (rows it had been handed). */
  private threadDropped = 0;
  private threadToken = "";
  /** Segments the thread sealed (with their hints), until rolled; every other segment of its token is open. */
  private readonly sealed = new Map<string, HintGroup[] | undefined>();
  /** Where entries go once the thread is gone. */
  private fallback: EntryLog | undefined;
  private closed = false;
  private stopped = false;
  private readonly capacity: number;

  private constructor(
    private readonly worker: Worker,
    private readonly ring: EntryRing,
    private readonly descriptorPort: MessagePort,
    private readonly options: EntryLogOptions,
    private readonly events: EntryLogEvents,
  ) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
  }

  /**
   * Starts the log thread; undefined when it cannot run here (its script is not built), in which
   * case the caller uses an EntryLog on its own thread.
   */
  static async start(options: EntryLogOptions, events: EntryLogEvents): Promise<ThreadedEntryLog | undefined> {
    const script = threadScript();
    if (script === undefined) return undefined;
    const capacity = options.capacity ?? DEFAULT_CAPACITY;
    const ring = new EntryRing(Math.min(MAX_RING_BYTES, Math.max(MIN_RING_BYTES, capacity * RING_BYTES_PER_ROW)));
    const channel = new MessageChannel();
    const { logger, ...rest } = options;
    // The capacity is enforced here, over rows wherever they wait; the thread's own queue is not bounded again.
    const data: LogThreadData = { ring: ring.sab, descriptors: channel.port2, options: { ...rest, capacity: Number.MAX_SAFE_INTEGER }, logLevel: logger?.level ?? "warn" };
    const worker = new Worker(script, { workerData: data, transferList: [channel.port2], name: "flywheel-inference-log" });
    const log = new ThreadedEntryLog(worker, ring, channel.port1, options, events);
    try {
      await log.ready();
    } catch (e) {
      options.logger?.warn({ err: e }, "inference log: the log thread did not start; encoding on the serving thread");
      void worker.terminate();
      return undefined;
    }
    worker.unref();
    return log;
  }

  private ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: unknown) => reject(e);
      const onExit = (code: number) => reject(new Error(`the log thread exited with code ${code}`));
      this.worker.once("error", onError);
      this.worker.once("exit", onExit);
      this.worker.on("message", (m: FromLogThread) => {
        if (m.type === "ready") {
          this.threadToken = m.token;
          registerWriter(m.token);
          this.worker.off("error", onError);
          this.worker.off("exit", onExit);
          this.worker.on("error", (e) => this.lost(e));
          this.worker.on("exit", (code) => this.lost(new Error(`the log thread exited with code ${code}`)));
          resolve();
          return;
        }
        this.received(m);
      });
    });
  }

  private received(m: FromLogThread): void {
    switch (m.type) {
      case "written":
        this.writtenRows += m.n;
        this.events.written(m.n);
        return;
      case "dropped":
        this.droppedRows += m.n;
        this.threadDropped += m.n;
        this.events.dropped(m.n, m.reason);
        return;
      case "sealed":
        this.sealed.set(m.path, m.hints);
        this.events.sealed(m.path);
        return;
      case "lines":
        this.events.lines(m.records);
        return;
      case "log":
        this.relayLog(m.line);
        return;
      case "ready":
        return;
      case "done": {
        const call = this.calls.get(m.id);
        this.calls.delete(m.id);
        if (m.error === undefined) call?.resolve();
        else call?.reject(new FlywheelError("FW_STORAGE_UNAVAILABLE", `inference log: ${m.error}`));
        return;
      }
    }
  }

  private relayLog(line: string): void {
    const logger = this.options.logger;
    if (logger === undefined) return;
    try {
      const { level, msg, time: _time, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>;
      const method = PINO_LEVELS[Number(level)] ?? "info";
      logger[method]({ ...rest, thread: "inference-log" }, typeof msg === "string" ? msg : "");
    } catch {
      logger.warn({ line }, "inference log thread");
    }
  }

  /** The thread died: pending calls fail, and the log goes on with an EntryLog here. */
  private lost(e: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    unregisterWriter(this.threadToken);
    this.options.logger?.error({ err: e }, "inference log: the log thread stopped; entries not yet written by it are lost, later ones are written by the serving thread");
    const err = new FlywheelError("FW_STORAGE_UNAVAILABLE", `inference log: the log thread stopped (${e instanceof Error ? e.message : String(e)})`);
    for (const call of this.calls.values()) call.reject(err);
    this.calls.clear();
    // What the thread had not written is gone.
    const lost = this.offeredRows - this.writtenRows - this.threadDropped;
    if (lost > 0) {
      this.droppedRows += lost;
      this.threadDropped += lost;
      this.events.dropped(lost, "write_error");
    }
    if (!this.closed) this.fallback = new EntryLog(this.options, this.events);
  }

  get token(): string {
    return this.fallback?.token ?? this.threadToken;
  }

  get backlog(): number {
    return Math.max(0, this.offeredRows - this.writtenRows - this.threadDropped) + (this.fallback?.backlog ?? 0);
  }

  get written(): number {
    return this.writtenRows + (this.fallback?.written ?? 0);
  }

  get dropped(): number {
    return this.droppedRows + (this.fallback?.dropped ?? 0);
  }

  isOpen(path: string): boolean {
    // InferenceLog asks only about segments of the current token: the fallback's once there is one.
    if (this.fallback !== undefined) return this.fallback.isOpen(path);
    return !this.sealed.has(path);
  }

  hintsFor(path: string): HintGroup[] | undefined {
    return this.fallback?.hintsFor(path) ?? this.sealed.get(path);
  }

  forgetHints(path: string): void {
    this.fallback?.forgetHints(path);
    this.sealed.delete(path);
  }

  /** Copies the entry into the ring (never waits); false, counted as dropped, when the ring is full or the log closed. */
  offer(entry: InferenceLogEntry): boolean {
    if (this.fallback !== undefined) return this.fallback.offer(entry);
    const rows = Math.max(1, entryRows(entry));
    if (this.closed) {
      this.droppedRows += rows;
      this.events.dropped(rows, "closed");
      return false;
    }
    // The capacity bounds rows not yet written, wherever they wait (the ring, messages, the thread's queue).
    if (this.offeredRows - this.writtenRows - this.threadDropped + rows > this.capacity) {
      this.droppedRows += rows;
      this.events.dropped(rows, "queue_full");
      return false;
    }
    const len = EntryRing.recordBytes(entry);
    if (len < 0 || len > this.ring.capacity / MAX_RECORD_SHARE) {
      const plain: InferenceLogEntry = { ...entry, inputs: Object.fromEntries(Object.entries(entry.inputs).map(([k, t]) => [k, plainTensor(t)])) as InferenceLogEntry["inputs"], outputs: entry.outputs.map(([k, t]) => [k, plainTensor(t)] as const) };
      this.worker.postMessage({ type: "entry", entry: plain } satisfies ToLogThread);
      this.offeredRows += rows;
      return true;
    }
    if (!this.ring.write(entry, len, this.descriptorOf(entry))) {
      this.droppedRows += rows;
      this.events.dropped(rows, "queue_full");
      return false;
    }
    this.offeredRows += rows;
    return true;
  }

  /** The id of the entry's descriptor, posted to the thread the first time. */
  private descriptorOf(e: InferenceLogEntry): number {
    let list = this.descriptors.get(e.model);
    if (list === undefined) {
      if (this.descriptors.size >= MAX_MODELS) {
        const forget = [...this.descriptors.values()].flatMap((l) => l.map((d) => d.id));
        this.descriptors.clear();
        this.descriptorPort.postMessage({ forget });
      }
      list = [];
      this.descriptors.set(e.model, list);
    }
    for (let i = 0; i < list.length; i++) {
      const d = list[i] as EntryDescriptor;
      if (d.version === e.version && d.features === e.features && d.classNames === e.classNames && sameNames(d, e)) {
        if (i > 0) {
          list.splice(i, 1);
          list.unshift(d);
        }
        return d.id;
      }
    }
    const d: EntryDescriptor = {
      id: this.nextDescriptor++,
      model: e.model,
      version: e.version,
      features: e.features,
      classNames: e.classNames,
      inputNames: Object.keys(e.inputs),
      outputNames: e.outputs.map(([name]) => name),
    };
    this.descriptorPort.postMessage({ add: d });
    list.unshift(d);
    if (list.length > MAX_DESCRIPTORS_PER_MODEL) this.descriptorPort.postMessage({ forget: [(list.pop() as EntryDescriptor).id] });
    return d.id;
  }

  private call(type: "flush" | "seal" | "close"): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const id = this.nextCall++;
    return new Promise<void>((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.worker.postMessage({ type, id } satisfies ToLogThread);
    });
  }

  async flush(): Promise<void> {
    await Promise.all([this.call("flush"), this.fallback?.flush()]);
  }

  async seal(): Promise<void> {
    await Promise.all([this.call("seal"), this.fallback?.seal()]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await Promise.all([this.call("close"), this.fallback?.close()]);
    } finally {
      if (!this.stopped) {
        this.stopped = true;
        unregisterWriter(this.threadToken);
        await this.worker.terminate();
      }
      this.descriptorPort.close();
    }
  }
}

function sameNames(d: EntryDescriptor, e: InferenceLogEntry): boolean {
  let k = 0;
  for (const name in e.inputs) if (d.inputNames[k++] !== name) return false;
  if (k !== d.inputNames.length || d.outputNames.length !== e.outputs.length) return false;
  for (let j = 0; j < e.outputs.length; j++) if ((e.outputs[j] as readonly [string, unknown])[0] !== d.outputNames[j]) return false;
  return true;
}
