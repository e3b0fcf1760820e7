/**
 * Adaptive batching: concurrent requests for one loaded (model, version) whose inputs share a
 * variable first dimension are stacked along it into one tensor per input, run once, and the
 * outputs are split back per request. A request waits at most `maxBatchTimeMs` for companions and
 * a batch never holds more than `maxBatchSize` rows (a request that is larger runs alone). Requests
 * only share a batch when they ask for the same outputs and their inputs have the same datatypes
 * and trailing dimensions. With `maxBatchTimeMs` 0 (Triton's "no queue delay") a request that finds
 * nothing waiting and no run in flight runs at once, and a request that finds either waits for the
 * end of the event-loop turn, with every request parsed in that turn: a lone client waits for
 * nothing (not even the loop iteration a batch of one would cost it), and since ONNX Runtime's run
 * holds the thread, requests read while a run is pending form the next batch, so batches grow with
 * the load by themselves. Every request is
 * settled exactly once: with its slice of the outputs, or with the error the run failed with (the
 * same error for every request of the batch).
 */
import type { RuntimeTensor } from "./tensors.js";
import type { TensorData, TensorValue } from "./tensors.js";

/** Batching of one model, from its registered-model tags; absent means every request runs alone. */
export interface BatchConfig {
  /** The most rows one run takes (2 or more). */
  maxBatchSize: number;
  /**
   * How long the first request of a batch waits for companions, in milliseconds; 0: until the end of
   * the event-loop turn it arrived in (the requests read in the same turn join it).
   */
  maxBatchTimeMs: number;
}

export type Feeds = Record<string, TensorValue>;
export type Outputs = Record<string, RuntimeTensor>;
export type BatchRunner = (feeds: Feeds, outputs: readonly string[]) => Promise<Outputs>;

/** What the batchers have done so far (a test and monitoring hook). */
export interface BatchStats {
  /** Runs made by batchers, including requests that ran alone. */
  runs: number;
  /** Requests answered by batchers. */
  requests: number;
  /** The most requests one run served. */
  largestBatch: number;
  /** The most rows one run took. */
  largestBatchRows: number;
  /** Number of runs by how many requests they served. */
  runsBySize: Record<number, number>;
  /** Requests waiting for companions now (the batch queue depth). */
  waiting: number;
}

export function newBatchStats(): BatchStats {
  return { runs: 0, requests: 0, largestBatch: 0, largestBatchRows: 0, runsBySize: {}, waiting: 0 };
}

interface Pending {
  feeds: Feeds;
  rows: number;
  resolve: (outputs: Outputs) => void;
  reject: (error: unknown) => void;
}

interface Group {
  key: string;
  outputs: readonly string[];
  items: Pending[];
  rows: number;
  /** The flush after `maxBatchTimeMs` (above 0), or at the end of the turn (0). */
  timer: ReturnType<typeof setTimeout> | undefined;
  immediate: ReturnType<typeof setImmediate> | undefined;
}

/** The number of rows every input has along its first dimension, or undefined when they differ or an input has no dimensions. */
export function rowsOf(feeds: Feeds): number | undefined {
  let rows: number | undefined;
  for (const t of Object.values(feeds)) {
    const first = t.dims[0];
    if (first === undefined || (rows !== undefined && first !== rows)) return undefined;
    rows = first;
  }
  return rows;
}

/** Requests with equal keys can be stacked: the same outputs, inputs, datatypes and trailing dimensions. */
export function batchKey(feeds: Feeds, outputs: readonly string[]): string {
  const inputs = Object.keys(feeds)
    .sort()
    .map((name) => {
      const t = feeds[name] as TensorValue;
      return `${name}\u0001${t.type}\u0001${t.dims.slice(1).join(",")}`;
    });
  return `${outputs.join("\u0001")}\u0000${inputs.join("\u0000")}`;
}

type Settable = { set(source: ArrayLike<number | bigint>, offset: number): void };

function concatData(parts: readonly TensorData[]): TensorData {
  const [first] = parts;
  if (first === undefined) throw new Error("nothing to stack");
  if (Array.isArray(first)) return (parts as readonly string[][]).flat();
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new (first.constructor as new (length: number) => Exclude<TensorData, string[]>)(total);
  let at = 0;
  for (const p of parts) {
    (out as unknown as Settable).set(p as ArrayLike<number | bigint>, at);
    at += p.length;
  }
  return out;
}

/** The inputs of `items` stacked along the first dimension (all items have the same batch key). */
export function stackFeeds(items: readonly Feeds[]): Feeds {
  const [first] = items;
  if (first === undefined) throw new Error("nothing to stack");
  const feeds: Feeds = {};
  for (const [name, t] of Object.entries(first)) {
    const parts = items.map((f) => f[name] as TensorValue);
    const rows = parts.reduce((n, p) => n + (p.dims[0] as number), 0);
    feeds[name] = { type: t.type, data: concatData(parts.map((p) => p.data)), dims: [rows, ...t.dims.slice(1)] };
  }
  return feeds;
}

type Sliceable = { length: number; slice(start: number, end: number): unknown };

/**
 * The outputs of a stacked run split back into one set per request, `rows[i]` rows each; undefined
 * when an output does not have the batch's rows along its first dimension (it cannot be split).
 */
export function splitOutputs(outputs: Outputs, rows: readonly number[]): Outputs[] | undefined {
  const total = rows.reduce((n, r) => n + r, 0);
  const parts: Outputs[] = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    const data = t.data as Sliceable | null | undefined;
    if (t.dims[0] !== total || data === null || data === undefined || typeof data.slice !== "function") return undefined;
    const step = total === 0 ? 0 : data.length / total;
    if (!Number.isInteger(step)) return undefined;
    const inner = t.dims.slice(1);
    let at = 0;
    rows.forEach((r, i) => {
      (parts[i] as Outputs)[name] = { type: t.type, dims: [r, ...inner], data: data.slice(at * step, (at + r) * step) };
      at += r;
    });
  }
  return parts;
}

/** One batcher per loaded (model, version): `submit` runs the request alone or with concurrent companions. */
export class Batcher {
  private readonly open = new Map<string, Group>();
  /** Runs in flight (alone or batched). */
  private running = 0;

  /** `onRun` is told the requests and rows of every run (a request that ran alone is a run of one). */
  constructor(
    private readonly runner: BatchRunner,
    readonly stats: BatchStats = newBatchStats(),
    private readonly onRun?: (requests: number, rows: number) => void,
  ) {}

  /** Requests waiting for companions now. */
  get waiting(): number {
    let n = 0;
    for (const g of this.open.values()) n += g.items.length;
    return n;
  }

  submit(feeds: Feeds, outputs: readonly string[], config: BatchConfig | undefined): Promise<Outputs> {
    const rows = rowsOf(feeds);
    if (config === undefined || rows === undefined || rows === 0 || rows >= config.maxBatchSize) return this.alone(feeds, outputs, rows ?? 0);
    // No queue delay and nothing to wait behind: it runs now; requests read while it runs form the next batch.
    if (config.maxBatchTimeMs === 0 && this.running === 0 && this.open.size === 0) return this.alone(feeds, outputs, rows);
    return new Promise<Outputs>((resolve, reject) => {
      const key = batchKey(feeds, outputs);
      const item: Pending = { feeds, rows, resolve, reject };
      let group = this.open.get(key);
      if (group !== undefined && group.rows + rows > config.maxBatchSize) {
        this.flush(group);
        group = undefined;
      }
      if (group === undefined) {
        const g: Group = { key, outputs: [...outputs], items: [], rows: 0, timer: undefined, immediate: undefined };
        // setImmediate runs in the check phase, after the poll phase has read every readable socket
        // (and run their microtasks): the requests of this turn are in the batch by then.
        if (config.maxBatchTimeMs === 0) g.immediate = setImmediate(() => this.flush(g));
        else g.timer = setTimeout(() => this.flush(g), config.maxBatchTimeMs);
        this.open.set(key, g);
        group = g;
      }
      group.items.push(item);
      group.rows += rows;
      this.stats.waiting++;
      if (group.rows >= config.maxBatchSize) this.flush(group);
    });
  }

  /** Runs every waiting batch now. */
  flushAll(): void {
    for (const g of [...this.open.values()]) this.flush(g);
  }

  private count(requests: number, rows: number): void {
    const s = this.stats;
    s.runs++;
    s.requests += requests;
    s.largestBatch = Math.max(s.largestBatch, requests);
    s.largestBatchRows = Math.max(s.largestBatchRows, rows);
    s.runsBySize[requests] = (s.runsBySize[requests] ?? 0) + 1;
    this.onRun?.(requests, rows);
  }

  private alone(feeds: Feeds, outputs: readonly string[], rows: number): Promise<Outputs> {
    this.count(1, rows);
    return this.tracked(feeds, outputs);
  }

  /** The runner's answer, counted as in flight until it settles. */
  private async tracked(feeds: Feeds, outputs: readonly string[]): Promise<Outputs> {
    this.running++;
    try {
      return await this.runner(feeds, outputs);
    } finally {
      this.running--;
    }
  }

  private flush(group: Group): void {
    if (this.open.get(group.key) !== group) return;
    this.open.delete(group.key);
    this.stats.waiting -= group.items.length;
    if (group.timer !== undefined) clearTimeout(group.timer);
    if (group.immediate !== undefined) clearImmediate(group.immediate);
    void this.runGroup(group);
  }

  private async runGroup(group: Group): Promise<void> {
    const { items, outputs } = group;
    const [only] = items;
    if (only !== undefined && items.length === 1) {
      await this.alone(only.feeds, outputs, only.rows).then(only.resolve, only.reject);
      return;
    }
    let parts: Outputs[] | undefined;
    try {
      const stacked = stackFeeds(items.map((i) => i.feeds));
      this.count(items.length, group.rows);
      parts = splitOutputs(await this.tracked(stacked, outputs), items.map((i) => i.rows));
    } catch (e) {
      for (const i of items) i.reject(e);
      return;
    }
    if (parts === undefined) {
      // The model's outputs do not follow the rows of its inputs: every request runs on its own.
      await Promise.all(items.map((i) => this.alone(i.feeds, outputs, i.rows).then(i.resolve, i.reject)));
      return;
    }
    items.forEach((i, k) => i.resolve(parts[k] as Outputs));
  }
}

/** Registered-model tags that turn batching on for every version of the model. */
export const MAX_BATCH_SIZE_TAG = "flywheel.serving.max_batch_size";
export const MAX_BATCH_TIME_TAG = "flywheel.serving.max_batch_time_ms";

/** Upper limits on the tags' values, so a typo cannot hold requests for minutes. */
export const MAX_BATCH_SIZE_LIMIT = 1_000_000;
export const MAX_BATCH_TIME_LIMIT_MS = 10_000;

/**
 * The batching a model's tags ask for: both tags set, `max_batch_size` an integer from 2 and
 * `max_batch_time_ms` a number from 0 to 10000 (0: no queue delay, the batch runs at the end of
 * the event-loop turn). Anything else (a missing tag, a value that is not a number, negative, or
 * out of range) leaves batching off, so a bad tag never fails requests.
 */
export function batchConfigOf(tags: readonly { key: string; value: string }[]): BatchConfig | undefined {
  const value = (key: string) => tags.find((t) => t.key === key)?.value.trim();
  const size = value(MAX_BATCH_SIZE_TAG);
  const time = value(MAX_BATCH_TIME_TAG);
  if (size === undefined || time === undefined || !/^\d+$/.test(size) || !/^\d+(\.\d+)?$/.test(time)) return undefined;
  const maxBatchSize = Number(size);
  const maxBatchTimeMs = Number(time);
  if (maxBatchSize < 2 || maxBatchSize > MAX_BATCH_SIZE_LIMIT || maxBatchTimeMs < 0 || maxBatchTimeMs > MAX_BATCH_TIME_LIMIT_MS) return undefined;
  return { maxBatchSize, maxBatchTimeMs };
}
