import { afterEach, describe, expect, test, vi } from "vitest";
import { Batcher, batchConfigOf, MAX_BATCH_SIZE_TAG, MAX_BATCH_TIME_TAG, splitOutputs, stackFeeds, type Feeds, type Outputs } from "./batcher.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { ServingError } from "./errors.js";
import { ModelCache } from "./model-cache.js";

/** A fake model: `y = 2x` for FP32 `x` [N, k], `n = -x` for INT64 `i` [N], `s = s + "!"` for strings. */
class FakeRunner {
  calls: { feeds: Feeds; outputs: readonly string[] }[] = [];
  fail: Error | undefined;
  /** Answers an output whose first dimension does not follow the rows. */
  unsplittable = false;

  readonly run = async (feeds: Feeds, outputs: readonly string[]): Promise<Outputs> => {
    this.calls.push({ feeds, outputs });
    await Promise.resolve();
    if (this.fail !== undefined) throw this.fail;
    const out: Outputs = {};
    for (const name of outputs) {
      if (name === "y") {
        const x = feeds.x;
        if (x === undefined) throw new Error("no x");
        out.y = { type: "float32", dims: this.unsplittable ? [1, x.data.length] : [...x.dims], data: Float32Array.from(x.data as Float32Array, (v) => v * 2) };
      } else if (name === "n") {
        const i = feeds.i;
        if (i === undefined) throw new Error("no i");
        out.n = { type: "int64", dims: [...i.dims], data: BigInt64Array.from(i.data as BigInt64Array, (v) => -v) };
      } else if (name === "s") {
        const s = feeds.s;
        if (s === undefined) throw new Error("no s");
        out.s = { type: "string", dims: [...s.dims], data: (s.data as string[]).map((v) => `${v}!`) };
      }
    }
    return out;
  };
}

/** FP32 `x` with `rows` rows of `width` values, counting up from `start`. */
const x = (rows: number, start = 0, width = 2): Feeds => ({
  x: { type: "float32", dims: [rows, width], data: Float32Array.from({ length: rows * width }, (_, k) => start + k) },
});

const values = (o: Outputs, name: string) => Array.from(o[name]?.data as ArrayLike<number>);

describe("Batcher", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test("stacks concurrent requests into one run and splits the outputs back, each request getting its own rows", async () => {
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 10, maxBatchTimeMs: 5 };
    const pending = [b.submit(x(1, 0), ["y"], config), b.submit(x(2, 10), ["y"], config), b.submit(x(1, 20), ["y"], config)];
    expect(b.stats.waiting, "the batch queue depth while the batch collects").toBe(3);
    const answers = await Promise.all(pending);
    expect(b.stats.waiting).toBe(0);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]?.feeds.x?.dims).toEqual([4, 2]);
    expect(Array.from(fake.calls[0]?.feeds.x?.data as Float32Array)).toEqual([0, 1, 10, 11, 12, 13, 20, 21]);
    expect(answers.map((a) => a.y?.dims)).toEqual([[1, 2], [2, 2], [1, 2]]);
    expect(answers.map((a) => values(a, "y"))).toEqual([[0, 2], [20, 22, 24, 26], [40, 42]]);
    expect(b.stats).toMatchObject({ runs: 1, requests: 3, largestBatch: 3, largestBatchRows: 4, runsBySize: { 3: 1 } });
    expect(b.waiting).toBe(0);
  });

  test("tells onRun the requests and rows of every run, a request alone included", async () => {
    const fake = new FakeRunner();
    const runs: [number, number][] = [];
    const b = new Batcher(fake.run, undefined, (requests, rows) => runs.push([requests, rows]));
    const config = { maxBatchSize: 10, maxBatchTimeMs: 5 };
    await Promise.all([b.submit(x(1, 0), ["y"], config), b.submit(x(2, 10), ["y"], config)]);
    await b.submit(x(3, 0), ["y"], undefined);
    expect(runs).toEqual([
      [2, 3],
      [1, 3],
    ]);
  });

  test("stacks every datatype layout: several inputs, int64 and strings", async () => {
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 8, maxBatchTimeMs: 5 };
    const req = (ints: bigint[], strings: string[]): Feeds => ({
      i: { type: "int64", dims: [ints.length], data: BigInt64Array.from(ints) },
      s: { type: "string", dims: [strings.length], data: strings },
    });
    const [a, c] = await Promise.all([b.submit(req([1n, 2n], ["a", "b"]), ["n", "s"], config), b.submit(req([3n], ["c"]), ["n", "s"], config)]);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]?.feeds.s?.data).toEqual(["a", "b", "c"]);
    expect(Array.from(a?.n?.data as BigInt64Array)).toEqual([-1n, -2n]);
    expect(a?.s?.data).toEqual(["a!", "b!"]);
    expect(Array.from(c?.n?.data as BigInt64Array)).toEqual([-3n]);
    expect(c?.s).toEqual({ type: "string", dims: [1], data: ["c!"] });
  });

  test("a request waits at most maxBatchTimeMs for companions", async () => {
    vi.useFakeTimers();
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 100, maxBatchTimeMs: 10 };
    const first = b.submit(x(1), ["y"], config);
    await vi.advanceTimersByTimeAsync(9);
    expect(fake.calls).toHaveLength(0);
    const second = b.submit(x(1, 5), ["y"], config);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.calls).toHaveLength(1);
    expect(values(await first, "y")).toEqual([0, 2]);
    expect(values(await second, "y")).toEqual([10, 12]);
    // A request after the batch left starts a new one, with its own time limit.
    const third = b.submit(x(1), ["y"], config);
    await vi.advanceTimersByTimeAsync(9);
    expect(fake.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(values(await third, "y")).toEqual([0, 2]);
    expect(fake.calls).toHaveLength(2);
  });

  test("a batch never exceeds maxBatchSize rows; a full batch runs at once; a larger request runs alone", async () => {
    vi.useFakeTimers();
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 4, maxBatchTimeMs: 1000 };
    const p1 = b.submit(x(2, 0), ["y"], config);
    const p2 = b.submit(x(2, 100), ["y"], config);
    // Full: it ran without waiting for the time limit.
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.calls.map((c) => c.feeds.x?.dims[0])).toEqual([4]);
    const p3 = b.submit(x(3, 200), ["y"], config);
    const p4 = b.submit(x(2, 300), ["y"], config); // 3 + 2 > 4: the waiting batch leaves, this one starts the next
    const big = b.submit(x(6, 400), ["y"], config);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.calls.map((c) => c.feeds.x?.dims[0])).toEqual([4, 3, 6]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fake.calls.map((c) => c.feeds.x?.dims[0])).toEqual([4, 3, 6, 2]);
    const answers = await Promise.all([p1, p2, p3, p4, big]);
    expect(answers.map((a) => a.y?.dims[0])).toEqual([2, 2, 3, 2, 6]);
    expect(values(answers[3] as Outputs, "y")).toEqual([600, 602, 604, 606]);
    expect(b.stats).toMatchObject({ runs: 4, requests: 5, largestBatch: 2, largestBatchRows: 6 });
    expect(Math.max(...fake.calls.filter((c) => c.feeds.x !== undefined && c.feeds.x.dims[0] !== 6).map((c) => c.feeds.x?.dims[0] ?? 0))).toBeLessThanOrEqual(4);
  });

  test("requests for other outputs, datatypes or trailing shapes go in separate batches", async () => {
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 100, maxBatchTimeMs: 5 };
    const f64: Feeds = { x: { type: "float64", dims: [1, 2], data: Float64Array.from([1, 2]) } };
    const answers = await Promise.all([
      b.submit(x(1), ["y"], config),
      b.submit(x(1, 1), ["y"], config),
      b.submit(x(1, 0, 3), ["y"], config), // other trailing shape
      b.submit(f64, ["y"], config), // other datatype
      b.submit({ ...x(1), i: { type: "int64", dims: [1], data: BigInt64Array.from([7n]) } }, ["n", "y"], config), // other inputs and outputs
      b.submit({ ...x(1), i: { type: "int64", dims: [1], data: BigInt64Array.from([8n]) } }, ["y", "n"], config), // other output order
    ]);
    expect(fake.calls).toHaveLength(5);
    const sizes = fake.calls.map((c) => c.feeds.x?.dims[0]).sort();
    expect(sizes).toEqual([1, 1, 1, 1, 2]);
    expect(answers[2]?.y?.dims).toEqual([1, 3]);
    expect(Object.keys(answers[4] ?? {})).toEqual(["n", "y"]);
    expect(Object.keys(answers[5] ?? {})).toEqual(["y", "n"]);
    expect(Array.from(answers[5]?.n?.data as BigInt64Array)).toEqual([-8n]);
  });

  test("requests that cannot be stacked run alone: no batching config, no rows, inputs with different rows, scalars", async () => {
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 100, maxBatchTimeMs: 1000 };
    await b.submit(x(1), ["y"], undefined);
    await b.submit(x(0), ["y"], config);
    await b.submit({ ...x(2), i: { type: "int64", dims: [1], data: BigInt64Array.from([1n]) } }, ["y", "n"], config);
    await b.submit({ x: { type: "float32", dims: [], data: Float32Array.from([1]) } }, ["y"], config);
    expect(fake.calls).toHaveLength(4);
    expect(b.stats).toMatchObject({ runs: 4, requests: 4, largestBatch: 1 });
  });

  test("a runtime error fails every request of the batch with the same error, once", async () => {
    const fake = new FakeRunner();
    fake.fail = new ServingError(400, "model 'm' version 1 could not run on this input: boom");
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 10, maxBatchTimeMs: 5 };
    const settled = await Promise.allSettled([b.submit(x(1), ["y"], config), b.submit(x(2), ["y"], config), b.submit(x(1), ["y"], config)]);
    expect(fake.calls).toHaveLength(1);
    for (const s of settled) {
      expect(s.status).toBe("rejected");
      expect((s as PromiseRejectedResult).reason).toBe(fake.fail);
    }
    // The batcher keeps working after a failed batch.
    fake.fail = undefined;
    expect(values(await b.submit(x(1, 3), ["y"], config), "y")).toEqual([6, 8]);
  });

  test("a synchronous throw from the runner also fails the batch, not the process", async () => {
    const error = new Error("sync");
    const b = new Batcher(() => {
      throw error;
    });
    const config = { maxBatchSize: 10, maxBatchTimeMs: 1 };
    const settled = await Promise.allSettled([b.submit(x(1), ["y"], config), b.submit(x(1), ["y"], config), b.submit(x(1), ["y"], undefined)]);
    expect(settled.map((s) => (s as PromiseRejectedResult).reason)).toEqual([error, error, error]);
  });

  test("outputs that do not follow the input rows are not split: each request runs again on its own", async () => {
    const fake = new FakeRunner();
    fake.unsplittable = true;
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 10, maxBatchTimeMs: 5 };
    const [a, c] = await Promise.all([b.submit(x(1, 0), ["y"], config), b.submit(x(1, 1), ["y"], config)]);
    expect(fake.calls.map((k) => k.feeds.x?.dims[0])).toEqual([2, 1, 1]);
    expect(values(a as Outputs, "y")).toEqual([0, 2]);
    expect(values(c as Outputs, "y")).toEqual([2, 4]);
  });

  test("many concurrent requests: every one answered exactly once with its own rows", async () => {
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const config = { maxBatchSize: 7, maxBatchTimeMs: 2 };
    const rows = Array.from({ length: 50 }, (_, k) => 1 + (k % 4));
    const answers = await Promise.all(rows.map((r, k) => b.submit(x(r, k * 100), ["y"], config)));
    answers.forEach((a, k) => {
      const r = rows[k] as number;
      expect(values(a, "y")).toEqual(Array.from({ length: r * 2 }, (_, j) => 2 * (k * 100 + j)));
    });
    expect(b.stats.requests).toBe(50);
    expect(fake.calls.every((c) => (c.feeds.x?.dims[0] ?? 0) <= 7)).toBe(true);
    expect(b.stats.largestBatch).toBeGreaterThan(1);
  });
});

describe("Batcher with maxBatchTimeMs 0 (a request runs at once when nothing waits or runs, else at the end of the event-loop turn)", () => {
  const config = { maxBatchSize: 8, maxBatchTimeMs: 0 };
  /** Resolves in the check phase after the batcher's own setImmediate (callbacks run in order). */
  const endOfTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  afterEach(() => {
    vi.useRealTimers();
  });

  test("a request that finds the batcher idle runs at once; those submitted while it runs, in the same turn or from microtasks, run as one batch, with the unbatched answers", async () => {
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const pending = [b.submit(x(1, 0), ["y"], config), b.submit(x(2, 10), ["y"], config)];
    expect(fake.calls.map((c) => c.feeds.x?.dims[0]), "the first runs at once").toEqual([1]);
    await Promise.resolve();
    pending.push(b.submit(x(1, 20), ["y"], config));
    expect(fake.calls, "the others wait for the end of the turn").toHaveLength(1);
    expect(b.stats.waiting).toBe(2);
    const answers = await Promise.all(pending);
    expect(fake.calls.map((c) => c.feeds.x?.dims[0])).toEqual([1, 3]);
    expect(b.stats).toMatchObject({ runs: 2, requests: 3, largestBatch: 2, largestBatchRows: 3, runsBySize: { 1: 1, 2: 1 }, waiting: 0 });
    const alone = new Batcher(new FakeRunner().run);
    const unbatched = await Promise.all([alone.submit(x(1, 0), ["y"], undefined), alone.submit(x(2, 10), ["y"], undefined), alone.submit(x(1, 20), ["y"], undefined)]);
    expect(answers).toEqual(unbatched);
  });

  test("a lone request runs at once, with no timer; in a later turn the first runs at once and the rest of the turn batch", async () => {
    // Timers are frozen (never advanced) and setImmediate stays real: a timer-based flush would hang here.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const first = b.submit(x(1, 0), ["y"], config);
    expect(fake.calls, "without waiting for the end of the turn").toHaveLength(1);
    expect(values(await first, "y")).toEqual([0, 2]);
    await endOfTurn();
    const later = [b.submit(x(1, 5), ["y"], config), b.submit(x(1, 7), ["y"], config), b.submit(x(1, 9), ["y"], config)];
    expect(fake.calls.map((c) => c.feeds.x?.dims[0])).toEqual([1, 1]);
    await endOfTurn();
    expect(fake.calls.map((c) => c.feeds.x?.dims[0])).toEqual([1, 1, 2]);
    expect((await Promise.all(later)).map((a) => values(a, "y"))).toEqual([[10, 12], [14, 16], [18, 20]]);
    expect(b.stats).toMatchObject({ runs: 3, requests: 4, runsBySize: { 1: 2, 2: 1 } });
    expect(vi.getTimerCount(), "no timer was ever set").toBe(0);
  });

  test("maxBatchSize still splits: a full batch runs at once, one that would overflow leaves, a larger request runs alone", async () => {
    const fake = new FakeRunner();
    const b = new Batcher(fake.run);
    const small = { maxBatchSize: 4, maxBatchTimeMs: 0 };
    // A run in flight, so that the others wait for companions.
    const busy = b.submit(x(1, 900), ["y"], small);
    const pending = [
      b.submit(x(2, 0), ["y"], small),
      b.submit(x(2, 100), ["y"], small), // full: runs now
      b.submit(x(3, 200), ["y"], small),
      b.submit(x(2, 300), ["y"], small), // 3 + 2 > 4: the waiting batch leaves, this one starts the next
      b.submit(x(6, 400), ["y"], small), // more than maxBatchSize: alone
    ];
    expect(fake.calls.map((c) => c.feeds.x?.dims[0]), "before the end of the turn").toEqual([1, 4, 3, 6]);
    await endOfTurn();
    expect(fake.calls.map((c) => c.feeds.x?.dims[0])).toEqual([1, 4, 3, 6, 2]);
    expect(values(await busy, "y")).toEqual([1800, 1802]);
    const answers = await Promise.all(pending);
    expect(answers.map((a) => a.y?.dims[0])).toEqual([2, 2, 3, 2, 6]);
    expect(values(answers[3] as Outputs, "y")).toEqual([600, 602, 604, 606]);
    expect(b.stats).toMatchObject({ runs: 5, requests: 6, largestBatch: 2, largestBatchRows: 6, runsBySize: { 1: 4, 2: 1 } });
  });

  test("a failed run rejects every request of the batch with the same error; a flushed batch does not run again at the end of the turn", async () => {
    const fake = new FakeRunner();
    fake.fail = new ServingError(400, "model 'm' version 1 could not run on this input: boom");
    const b = new Batcher(fake.run);
    const reasons: unknown[] = [];
    const pending = [b.submit(x(1), ["y"], config), b.submit(x(2), ["y"], config), b.submit(x(1), ["y"], config)].map((p) =>
      p.then(
        () => expect.fail("resolved"),
        (e: unknown) => reasons.push(e),
      ),
    );
    b.flushAll();
    await Promise.all(pending);
    await endOfTurn();
    // The first ran at once, alone; the other two as one batch, flushed before the end of the turn.
    expect(fake.calls.map((c) => c.feeds.x?.dims[0])).toEqual([1, 3]);
    expect(reasons).toEqual([fake.fail, fake.fail, fake.fail]);
    expect(b.stats).toMatchObject({ runs: 2, requests: 3, waiting: 0 });
  });
});

describe("stackFeeds and splitOutputs", () => {
  test("stack along the first dimension and split back", () => {
    const stacked = stackFeeds([x(1, 0), x(2, 2)]);
    expect(stacked.x?.dims).toEqual([3, 2]);
    expect(stacked.x?.data).toBeInstanceOf(Float32Array);
    const parts = splitOutputs({ y: { type: "float32", dims: [3, 2], data: stacked.x?.data } }, [1, 2]);
    expect(parts?.map((p) => values(p, "y"))).toEqual([[0, 1], [2, 3, 4, 5]]);
  });

  test("an output without the batch's rows cannot be split", () => {
    expect(splitOutputs({ y: { type: "float32", dims: [2], data: Float32Array.from([1, 2]) } }, [1, 2])).toBeUndefined();
    expect(splitOutputs({ y: { type: "float32", dims: [], data: Float32Array.from([1]) } }, [1])).toBeUndefined();
  });
});

describe("batchConfigOf", () => {
  const tags = (size?: string, time?: string) => [
    ...(size === undefined ? [] : [{ key: MAX_BATCH_SIZE_TAG, value: size }]),
    ...(time === undefined ? [] : [{ key: MAX_BATCH_TIME_TAG, value: time }]),
    { key: "other", value: "x" },
  ];

  test("both tags turn batching on", () => {
    expect(batchConfigOf(tags("32", "5"))).toEqual({ maxBatchSize: 32, maxBatchTimeMs: 5 });
    expect(batchConfigOf(tags(" 2 ", "0.5"))).toEqual({ maxBatchSize: 2, maxBatchTimeMs: 0.5 });
    expect(batchConfigOf(tags("32", "10000"))).toEqual({ maxBatchSize: 32, maxBatchTimeMs: 10000 });
  });

  test("max_batch_time_ms 0 turns on batching without a queue delay", () => {
    expect(batchConfigOf(tags("32", "0"))).toEqual({ maxBatchSize: 32, maxBatchTimeMs: 0 });
    expect(batchConfigOf(tags("32", " 0.0 "))).toEqual({ maxBatchSize: 32, maxBatchTimeMs: 0 });
  });

  test("off by default, and off for values that are missing, malformed or out of range", () => {
    for (const [size, time] of [[undefined, undefined], ["8", undefined], [undefined, "5"], ["1", "5"], ["0", "5"], ["-4", "5"], ["4.5", "5"], ["abc", "5"], ["8", "-1"], ["8", "-0"], ["8", "abc"], ["8", "soon"], ["8", "10001"], ["1000001", "5"], ["", ""]] as const) {
      expect(batchConfigOf(tags(size, time)), `${size} ${time}`).toBeUndefined();
    }
  });
});

describe("ModelCache.settingsFor", () => {
  /** A registry that only answers the settings read; the cache never loads a session here. */
  const registry = (tags: { key: string; value: string }[]) => {
    const r = {
      reads: 0,
      tags,
      resolve: () => Promise.reject(new Error("not used")),
      modelRevision: () => Promise.resolve("1"),
      downloadUri: () => Promise.reject(new Error("not used")),
      getModel: async () => {
        r.reads++;
        return { tags: r.tags };
      },
    };
    return r;
  };

  test("reads the model's tags once per TTL, shared by concurrent requests, and sees changes after it", async () => {
    const r = registry([]);
    const cache = new ModelCache(r, {} as ArtifactStore, { settingsTtlMs: 30 });
    const first = await Promise.all([cache.settingsFor("m"), cache.settingsFor("m"), cache.settingsFor("m")]);
    expect(first.map((s) => s.batching)).toEqual([undefined, undefined, undefined]);
    expect(r.reads).toBe(1);
    r.tags = [{ key: MAX_BATCH_SIZE_TAG, value: "8" }, { key: MAX_BATCH_TIME_TAG, value: "3" }];
    expect((await cache.settingsFor("m")).batching).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect((await cache.settingsFor("m")).batching).toEqual({ maxBatchSize: 8, maxBatchTimeMs: 3 });
    expect(r.reads).toBe(2);
  });

  test("a failed read is not kept; a registry without getModel serves everything unbatched", async () => {
    const r = registry([]);
    let fail = true;
    const flaky = { ...r, getModel: async () => (fail ? Promise.reject(new Error("db down")) : r.getModel()) };
    const cache = new ModelCache(flaky, {} as ArtifactStore);
    await expect(cache.settingsFor("m")).rejects.toThrow("db down");
    fail = false;
    expect(await cache.settingsFor("m")).toMatchObject({ batching: undefined, logSampleRate: 1 });
    const { getModel: _unused, ...plain } = r;
    expect(await new ModelCache(plain, {} as ArtifactStore).settingsFor("m")).toMatchObject({ batching: undefined, logSampleRate: 1 });
    expect(() => new ModelCache(plain, {} as ArtifactStore, { settingsTtlMs: -1 })).toThrow(/settingsTtlMs/);
  });
});
