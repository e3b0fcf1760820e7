/**
 * The structures the encoder notes for each row (log-plan.ts) stand in for DuckDB reading them
 * from the records when a segment is rolled: for entries of every kind the log writes (floats
 * with NaN and infinities, 64-bit integers beyond 2^53, class names, labels outside the class
 * list, strings, booleans, lists, scalars, traffic arms, features from the store, several models
 * and hours), rolling with the hints gives the same Parquet columns, types and values as rolling
 * by reading the records.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import fc from "fast-check";
import { afterEach, expect, test } from "vitest";
import { OfflineDb, quoteLiteral } from "../../storage/offline/duckdb.js";
import { tempDir } from "../../../test/helpers/backends.js";
import type { HintGroup } from "./entry-log.js";
import { InferenceLog } from "./inference-log.js";
import { CORE_COLUMNS, encodeEntry, encodeEntryShaped, type InferenceLogEntry } from "./log-record.js";
import { ROLL_DB_OPTIONS, rollSegment, type RollSpec } from "./roller.js";
import { segmentFileName } from "./segment-files.js";
import { T0, entryArb } from "../../../test/helpers/log-entries.js";

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

/** Every Parquet file under `root`: its path, columns with their types, and its rows as JSON text. */
async function parquetContents(db: OfflineDb, root: string): Promise<Record<string, { columns: string[]; rows: string[] }>> {
  const out: Record<string, { columns: string[]; rows: string[] }> = {};
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));
  for (const file of walk(root)) {
    const columns = (await db.query(`DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(file)})`)).map((c) => `${String(c.column_name)} ${String(c.column_type)}`);
    const rows = (await db.query(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet(${quoteLiteral(file)}) t`)).map((r) => String(r.j)).sort();
    out[relative(root, file)] = { columns: columns.sort(), rows };
  }
  return out;
}

/** Hints for entries, grouped as the entry log groups them. */
function hintsOf(entries: readonly InferenceLogEntry[]): HintGroup[] | undefined {
  const groups = new Map<string, HintGroup>();
  for (const e of entries) {
    const { hour, structure } = encodeEntryShaped(e);
    if (structure === undefined) return undefined;
    const key = `${e.model}\u0000${hour}`;
    const g = groups.get(key) ?? { model: e.model, hour, parts: new Set() };
    groups.set(key, g);
    for (const p of structure) g.parts.add(p);
  }
  return [...groups.values()];
}

test("rolling with the encoder's hints writes what rolling by reading the records writes", async () => {
  const d = tempDir("flywheel-hints-");
  dirs.push(d);
  const db = await OfflineDb.open(ROLL_DB_OPTIONS);
  try {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 12 }), async (entries) => {
        run++;
        const hints = hintsOf(entries);
        expect(hints).toBeDefined();
        const text = entries.map(encodeEntry).join("");
        const results = [];
        for (const withHints of [false, true]) {
          const dir = join(d.path, `${run}-${withHints}`);
          mkdirSync(join(dir, "segments"), { recursive: true });
          const segment = join(dir, "segments", segmentFileName("feedface", 1));
          writeFileSync(segment, text);
          const spec: RollSpec = { parquetRoot: join(dir, "parquet"), timeField: "ts", fixed: CORE_COLUMNS, byModel: true };
          await rollSegment(db, segment, spec, withHints ? hints : undefined);
          results.push(await parquetContents(db, spec.parquetRoot));
        }
        const [read, hinted] = results;
        // The one allowed difference: a column null in every row is typed from its tensor, where
        // reading the records leaves it out.
        for (const [file, content] of Object.entries(hinted ?? {})) {
          const other = read?.[file];
          expect(other, file).toBeDefined();
          // Rows by column name: the column order may differ (readers match columns by name).
          const rowsOf = (c: { rows: string[] }, cols: Set<string>) =>
            c.rows.map((r) => JSON.stringify(Object.entries(JSON.parse(r) as object).filter(([k]) => cols.has(k)).sort(([a], [b]) => (a < b ? -1 : 1))));
          const readCols = new Set(other?.columns.map((c) => c.slice(0, c.lastIndexOf(" "))));
          const extra = content.columns.filter((c) => !other?.columns.includes(c));
          for (const c of extra) {
            const name = c.slice(0, c.lastIndexOf(" "));
            expect(readCols.has(name), `${file}: ${c} typed differently`).toBe(false);
            expect(content.rows.every((r) => (JSON.parse(r) as Record<string, unknown>)[name] === null || (JSON.parse(r) as Record<string, unknown[]>)[name]?.every((v) => v === null)), `${file}: ${c} holds values`).toBe(true);
          }
          expect(other?.columns.every((c) => content.columns.includes(c)), file).toBe(true);
          expect(rowsOf(content, readCols).sort()).toEqual(rowsOf(other as { rows: string[] }, readCols).sort());
        }
        expect(Object.keys(hinted ?? {}).sort()).toEqual(Object.keys(read ?? {}).sort());
      }),
      { numRuns: 25 },
    );
  } finally {
    db.close();
  }
}, 120_000);

/** A one-row entry: two float32 inputs and an int64 label. */
function smallEntry(id: string, model: string, x: [number, number], label: bigint): InferenceLogEntry {
  return {
    requestId: id,
    protocol: "v2",
    time: T0,
    latencyMs: 1,
    model,
    version: "1",
    inputs: { x: { type: "float32", dims: [1, 2], data: Float32Array.from(x) } },
    outputs: [["label", { type: "int64", dims: [1], data: BigInt64Array.from([label]) }]],
  };
}

test("the log rolls its own segments with its hints, and a segment it did not write by reading it", async () => {
  const d = tempDir("flywheel-hints-log-");
  dirs.push(d);
  const entry = (id: string, model: string, x: number) => smallEntry(id, model, [x, Number.NaN], 2n ** 60n);
  const log = await InferenceLog.open(d.path, { groupCommitMs: 1 });
  try {
    void log.offer(entry("a", "m1", 1.5));
    void log.offer(entry("b", "m2", 2.5));
    const files = await log.roll();
    expect(files.map((f) => relative(log.paths.inferenceParquet, f).split("/").slice(0, 3).join("/")).sort()).toEqual(["model=m1/date=2024-05-01/hour=10", "model=m2/date=2024-05-01/hour=10"]);
    const db = await OfflineDb.open();
    try {
      const rows = await db.query(`SELECT model, "input.x"::VARCHAR AS x, prediction::VARCHAR AS p FROM read_parquet([${files.map(quoteLiteral).join(", ")}], union_by_name = true) ORDER BY model`);
      expect(rows).toEqual([
        { model: "m1", x: "[1.5, NULL]", p: String(2n ** 60n) },
        { model: "m2", x: "[2.5, NULL]", p: String(2n ** 60n) },
      ]);
    } finally {
      db.close();
    }
  } finally {
    await log.close();
  }
});

test("a segment with records outside its hints is rolled by reading it: no record is lost", async () => {
  const d = tempDir("flywheel-hints-missing-");
  dirs.push(d);
  const entries = [smallEntry("a", "m1", [1, 2], 1n), smallEntry("b", "m2", [1, 2], 1n)];
  mkdirSync(join(d.path, "segments"));
  const segment = join(d.path, "segments", segmentFileName("feedface", 1));
  writeFileSync(segment, entries.map(encodeEntry).join(""));
  const db = await OfflineDb.open(ROLL_DB_OPTIONS);
  try {
    // Hints that know only m1's rows.
    const files = await rollSegment(db, segment, { parquetRoot: join(d.path, "parquet"), timeField: "ts", fixed: CORE_COLUMNS, byModel: true }, hintsOf(entries.slice(0, 1)));
    const rows = await db.query(`SELECT model, request_id FROM read_parquet([${files.map(quoteLiteral).join(", ")}], union_by_name = true) ORDER BY model`);
    expect(rows).toEqual([
      { model: "m1", request_id: "a" },
      { model: "m2", request_id: "b" },
    ]);
  } finally {
    db.close();
  }
});
