/**
 * The inference log's thread: entries copied through the shared ring come back as entries the
 * encoder writes exactly as it writes the originals (every kind of tensor, wrapping around a small
 * ring, any request id), the ring refuses what it has no room for, and a log on its thread writes
 * the same rows as a log on the serving thread, carrying on by itself when its thread dies.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import fc from "fast-check";
import { afterEach, describe, expect, test } from "vitest";
import { OfflineDb, quoteLiteral } from "../../storage/offline/duckdb.js";
import { tempDir } from "../../../test/helpers/backends.js";
import { T0, entryArb } from "../../../test/helpers/log-entries.js";
import { EntryRing, type EntryDescriptor } from "./entry-ring.js";
import { InferenceLog } from "./inference-log.js";
import { encodeEntry, encodeEntryShaped, entryRows, type InferenceLogEntry } from "./log-record.js";
import { ThreadedEntryLog } from "./threaded-entry-log.js";

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function descriptorOf(id: number, e: InferenceLogEntry): EntryDescriptor {
  return { id, model: e.model, version: e.version, features: e.features, classNames: e.classNames, inputNames: Object.keys(e.inputs), outputNames: e.outputs.map(([n]) => n) };
}

/** Entries the ring carries: no string tensors, no features from the store; any request id and arm. */
const ringEntryArb = fc
  .tuple(entryArb, fc.string({ unit: "binary", maxLength: 80 }), fc.option(fc.string({ unit: "binary", maxLength: 12 }), { nil: undefined }))
  .map(([e, requestId, arm]): InferenceLogEntry => {
    const { featuresFromStore: _f, arm: _a, ...rest } = e;
    return { ...rest, requestId, ...(arm === undefined ? {} : { arm }) };
  })
  .filter((e) => EntryRing.recordBytes(e) >= 0);

describe("entry ring", () => {
  test("entries come back as the encoder writes them, in order, across wrap-arounds of a small ring", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(ringEntryArb, fc.boolean()), { minLength: 1, maxLength: 40 }), (steps) => {
        const ring = new EntryRing(2048);
        const descriptors = new Map<number, EntryDescriptor>();
        const written: InferenceLogEntry[] = [];
        const read: InferenceLogEntry[] = [];
        const drain = () =>
          ring.drain(
            (id) => descriptors.get(id),
            (e) => read.push(e as InferenceLogEntry),
          );
        for (const [entry, drainAfter] of steps) {
          const id = descriptors.size + 1;
          descriptors.set(id, descriptorOf(id, entry));
          const len = EntryRing.recordBytes(entry);
          if (len >= ring.capacity) continue;
          if (!ring.write(entry, len, id)) {
            // Full: what was written so far is still there, and reading it makes room.
            drain();
            expect(ring.write(entry, len, id)).toBe(true);
          }
          written.push(entry);
          if (drainAfter) drain();
        }
        drain();
        expect(read.length).toBe(written.length);
        read.forEach((e, i) => {
          const original = written[i] as InferenceLogEntry;
          expect(e.requestId).toBe(original.requestId);
          expect(e.arm).toBe(original.arm);
          expect(encodeEntryShaped(e)).toEqual(encodeEntryShaped(original));
          for (const [name, t] of Object.entries(original.inputs)) {
            expect(e.inputs[name]?.data).toEqual(t.data);
            expect(e.inputs[name]?.data.constructor).toBe(t.data.constructor);
          }
        });
      }),
      { numRuns: 150 },
    );
  });

  test("what the ring does not carry is said so: string tensors, store features, unknown element types", () => {
    const base: InferenceLogEntry = {
      requestId: "r",
      protocol: "v2",
      time: T0,
      latencyMs: 1,
      model: "m",
      version: "1",
      inputs: { x: { type: "float32", dims: [1, 2], data: new Float32Array([1, 2]) } },
      outputs: [["y", { type: "float32", dims: [1], data: new Float32Array([3]) }]],
    };
    expect(EntryRing.recordBytes(base)).toBeGreaterThan(0);
    expect(EntryRing.recordBytes({ ...base, featuresFromStore: ["a"] })).toBe(-1);
    expect(EntryRing.recordBytes({ ...base, outputs: [["y", { type: "string", dims: [1], data: ["a"] }]] })).toBe(-1);
    expect(EntryRing.recordBytes({ ...base, outputs: [["y", { type: "complex64", dims: [1], data: new Float32Array(2) }]] })).toBe(-1);
    expect(EntryRing.recordBytes({ ...base, outputs: [["y", { type: "float32", dims: [1], data: [3] }]] })).toBe(-1);
  });

  test("a full ring refuses an entry and keeps what it holds (it never fills up to where reading stands)", () => {
    const e: InferenceLogEntry = {
      requestId: "r",
      protocol: "v1",
      time: T0,
      latencyMs: 1,
      model: "m",
      version: "1",
      inputs: { x: { type: "float64", dims: [1, 4], data: new Float64Array([1, 2, 3, 4]) } },
      outputs: [],
    };
    const len = EntryRing.recordBytes(e);
    // Room for exactly four records: the fourth would make the ring look empty, so it is refused.
    const ring = new EntryRing(4 * len);
    let n = 0;
    while (n < 10 && ring.write(e, len, 1)) n++;
    expect(n).toBe(3);
    const back: InferenceLogEntry[] = [];
    ring.drain(
      () => descriptorOf(1, e),
      (x) => back.push(x as InferenceLogEntry),
    );
    expect(back.map(encodeEntry)).toEqual(Array.from({ length: n }, () => encodeEntry(e)));
    expect(ring.write(e, len, 1)).toBe(true);
  });
});

/** The rows of every segment under `dir`, sorted. */
function segmentRows(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => readFileSync(join(dir, n), "utf8").split("\n").filter((l) => l !== "")).sort();
}

describe("a log on its own thread", () => {
  test("writes the rows a log on the serving thread writes, for entries through the ring and as messages", async () => {
    const entries = fc.sample(entryArb, { numRuns: 200, seed: 42 });
    const rows = entries.reduce((n, e) => n + Math.max(1, entryRows(e)), 0);
    const results: string[][] = [];
    for (const thread of [true, false]) {
      const d = tempDir("flywheel-log-thread-");
      dirs.push(d);
      const log = await InferenceLog.open(d.path, { thread, rollIntervalMs: 3_600_000 });
      try {
        expect((log as unknown as { log: unknown }).log instanceof ThreadedEntryLog).toBe(thread);
        for (const e of entries) expect(log.offer(e)).toBeUndefined();
        await log.flush();
        expect(log.stats()).toMatchObject({ written: rows, dropped: 0, backlog: 0 });
        results.push(segmentRows(log.paths.inferenceSegments));
      } finally {
        await log.close();
      }
    }
    expect(results[0]).toEqual(entries.flatMap((e) => encodeEntry(e).split("\n").filter((l) => l !== "")).sort());
    expect(results[0]).toEqual(results[1]);
    // Some went through the ring and some as messages.
    expect(entries.some((e) => EntryRing.recordBytes(e) >= 0)).toBe(true);
    expect(entries.some((e) => EntryRing.recordBytes(e) < 0)).toBe(true);
  });

  test("sealed segments are rolled into Parquet with the thread's hints, and open ones are not", async () => {
    const d = tempDir("flywheel-log-thread-");
    dirs.push(d);
    const log = await InferenceLog.open(d.path, { rollIntervalMs: 3_600_000 });
    try {
      const entries = fc.sample(entryArb, { numRuns: 30, seed: 7 });
      for (const e of entries) void log.offer(e);
      const files = await log.roll();
      expect(files.length).toBeGreaterThan(0);
      expect(readdirSync(log.paths.inferenceSegments)).toEqual([]);
      const rows = entries.reduce((n, e) => n + Math.max(1, entryRows(e)), 0);
      const db = await OfflineDb.open();
      try {
        const [row] = await db.query(`SELECT count(*)::INTEGER AS n FROM read_parquet([${files.map(quoteLiteral).join(", ")}], union_by_name = true)`);
        expect(row?.n).toBe(rows);
      } finally {
        db.close();
      }
    } finally {
      await log.close();
    }
  });

  test("when its thread dies, the log counts what the thread had not written and writes later entries itself", async () => {
    const d = tempDir("flywheel-log-thread-");
    dirs.push(d);
    const events = { written: 0, dropped: 0, sealed: [] as string[] };
    const log = await ThreadedEntryLog.start(
      { dir: d.path, withLines: false },
      {
        written: (n) => (events.written += n),
        dropped: (n) => (events.dropped += n),
        sealed: (p) => events.sealed.push(p),
        lines: () => undefined,
      },
    );
    expect(log).toBeDefined();
    const threaded = log as ThreadedEntryLog;
    const [first, second] = fc.sample(ringEntryArb, { numRuns: 2, seed: 3 }) as [InferenceLogEntry, InferenceLogEntry];
    threaded.offer(first);
    await threaded.flush();
    expect(threaded.written).toBe(Math.max(1, entryRows(first)));
    const threadToken = threaded.token;
    await (threaded as unknown as { worker: Worker }).worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    expect(threaded.offer(second)).toBe(true);
    await threaded.flush();
    expect(threaded.token).not.toBe(threadToken);
    expect(threaded.written).toBe(Math.max(1, entryRows(first)) + Math.max(1, entryRows(second)));
    expect(segmentRows(d.path)).toEqual([first, second].flatMap((e) => encodeEntry(e).split("\n").filter((l) => l !== "")).sort());
    await threaded.close();
  });
});
