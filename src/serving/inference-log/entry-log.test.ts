/**
 * EntryLog.offerMany, the log thread's way in (one queued item per read of the ring): the segment
 * holds exactly the entries' lines, in order, the hints name every (model, hour) and structure as
 * entry-by-entry offers would, and an entry that cannot be encoded is dropped and counted alone.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, expect, test } from "vitest";
import { tempDir } from "../../../test/helpers/backends.js";
import { entryArb, T0 } from "../../../test/helpers/log-entries.js";
import { EntryLog, type EntryLogEvents, type HintGroup } from "./entry-log.js";
import { encodeEntry, type InferenceLogEntry } from "./log-record.js";
import type { SinkRecord } from "./stream-sink.js";

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function counting() {
  const seen = { written: 0, dropped: [] as [number, string][], lines: [] as SinkRecord[] };
  const events: EntryLogEvents = {
    written: (n) => {
      seen.written += n;
    },
    dropped: (n, reason) => {
      seen.dropped.push([n, reason]);
    },
    sealed: () => undefined,
    lines: (records) => {
      seen.lines.push(...records);
    },
  };
  return { seen, events };
}

/** Hint groups as comparable data: sorted, each with its structures' JSON sorted. */
const normal = (groups: readonly HintGroup[] | undefined) =>
  groups?.map((g) => ({ model: g.model, hour: g.hour, parts: [...g.parts].map((p) => JSON.stringify(p)).sort() })).sort((a, b) => `${a.model}/${a.hour}`.localeCompare(`${b.model}/${b.hour}`));

test("a batch is written as its entries' lines in order, with the hints entry-by-entry offers give", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 10 }), async (entries) => {
      const one = tempDir("flywheel-entrylog-");
      const many = tempDir("flywheel-entrylog-");
      dirs.push(one, many);
      const a = counting();
      const b = counting();
      const single = new EntryLog({ dir: one.path, withLines: true }, a.events);
      const batched = new EntryLog({ dir: many.path, withLines: true }, b.events);
      for (const e of entries) single.offer(e);
      batched.offerMany(entries);
      await Promise.all([single.flush(), batched.flush()]);
      const [segment] = readdirSync(many.path);
      expect(segment).toBeDefined();
      const path = join(many.path, segment as string);
      expect(readFileSync(path, "utf8")).toBe(entries.map(encodeEntry).join(""));
      const [singleSegment] = readdirSync(one.path);
      expect(normal(batched.hintsFor(path))).toEqual(normal(single.hintsFor(join(one.path, singleSegment as string))));
      expect(b.seen.written).toBe(a.seen.written);
      expect(b.seen.lines).toEqual(a.seen.lines);
      await Promise.all([single.close(), batched.close()]);
    }),
    { numRuns: 30 },
  );
});

test("an entry that cannot be encoded is dropped and counted alone; the rest of its batch is written", async () => {
  const d = tempDir("flywheel-entrylog-");
  dirs.push(d);
  const { seen, events } = counting();
  const log = new EntryLog({ dir: d.path, withLines: false }, events);
  const good = (id: string): InferenceLogEntry => ({
    requestId: id,
    protocol: "v2",
    time: T0,
    latencyMs: 1,
    model: "iris",
    version: "1",
    inputs: { x: { type: "float32", dims: [2, 2], data: Float32Array.from([1, 2, 3, 4]) } },
    outputs: [["y", { type: "float32", dims: [2], data: Float32Array.from([0.5, 1.5]) }]],
  });
  const broken = { ...good("bad"), outputs: [["y", { type: "float32", dims: [2], get data(): never { throw new Error("gone") } }]] } as unknown as InferenceLogEntry;
  log.offerMany([good("a"), broken, good("b")]);
  await log.flush();
  expect(seen.dropped).toEqual([[2, "encode_error"]]);
  expect(seen.written).toBe(4);
  const [segment] = readdirSync(d.path);
  const lines = readFileSync(join(d.path, segment as string), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { request_id: string; row: number });
  expect(lines.map((l) => `${l.request_id}:${l.row}`)).toEqual(["a:0", "a:1", "b:0", "b:1"]);
  await log.close();
});
