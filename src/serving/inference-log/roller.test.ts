/**
 * Rolling segments into Parquet: a large segment rolls within the log's DuckDB memory limit, and
 * column types are merged across records as DuckDB's json_structure merges them.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { OfflineDb, quoteLiteral } from "../../storage/offline/duckdb.js";
import { tempDir } from "../../../test/helpers/backends.js";
import { CORE_COLUMNS } from "./log-record.js";
import { ROLL_DB_OPTIONS, rollSegment, type RollSpec } from "./roller.js";
import { segmentFileName, segmentId } from "./segment-files.js";

const T0 = Date.parse("2024-05-01T10:00:00Z");
const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function setup(): { dir: string; segment: string; spec: RollSpec } {
  const d = tempDir("flywheel-roller-");
  dirs.push(d);
  const segs = join(d.path, "segments");
  mkdirSync(segs);
  return {
    dir: d.path,
    segment: join(segs, segmentFileName("feedface", 1)),
    spec: { parquetRoot: join(d.path, "parquet"), timeField: "ts", fixed: CORE_COLUMNS, byModel: true },
  };
}

/** `rows` log lines of one model and hour, 12 features each (about 450 bytes a line). */
function largeSegment(rows: number): Buffer {
  const chunks: Buffer[] = [];
  let lines = "";
  const ts = new Date(T0);
  for (let i = 0; i < rows; i++) {
    ts.setTime(T0 + Math.floor((i * 3_600_000) / rows));
    let line = `{"request_id":"req-${i >> 2}-9f6c2d1e","row":${i & 3},"ts":"${ts.toISOString()}","model":"churn","version":"7","protocol":"v2","latency_ms":${(i % 97) / 10}`;
    // Integers, negatives and fractions: the records' structures differ, their column types do not.
    for (let f = 0; f < 12; f++) line += `,"input.feature_${f}":${f % 3 === 0 ? (i % 7) - 3 : ((i * (f + 1)) % 10_000) / 77}`;
    line += `,"prediction":"class_${i % 3}","proba.class_0":0.125,"proba.class_1":0.25,"proba.class_2":0.625}\n`;
    lines += line;
    if (lines.length > 1 << 20) {
      chunks.push(Buffer.from(lines));
      lines = "";
    }
  }
  chunks.push(Buffer.from(lines));
  return Buffer.concat(chunks);
}

// DuckDB's json_group_structure, used before, failed here with Out of Memory: it builds a whole group as one string.
test("a large segment (~70 MB, 160k records) rolls within the log's DuckDB memory limit", async () => {
  const { segment, spec } = setup();
  const rows = 160_000;
  const text = largeSegment(rows);
  expect(text.length).toBeGreaterThan(65e6);
  writeFileSync(segment, text);
  const db = await OfflineDb.open(ROLL_DB_OPTIONS);
  try {
    const files = await rollSegment(db, segment, spec);
    expect(files.map((f) => f.slice(spec.parquetRoot.length + 1))).toEqual([`model=churn/date=2024-05-01/hour=10/${segmentId(basename(segment))}.parquet`]);
    expect(existsSync(segment)).toBe(false);
    const parquet = `read_parquet(${quoteLiteral(files[0] as string)}, hive_partitioning = false)`;
    const [count] = await db.query(`SELECT count(*)::INTEGER AS n, count(DISTINCT request_id)::INTEGER AS requests FROM ${parquet}`);
    expect(count).toEqual({ n: rows, requests: rows / 4 });
    const types = await db.describe(parquet);
    expect(types.filter((c) => c.name.startsWith("input.")).map((c) => c.type)).toEqual(Array(12).fill("DOUBLE"));
  } finally {
    db.close();
  }
}, 60_000);

test("column types merged across records: numbers as DOUBLE, lists by element, clashes as JSON, all-null columns left out", async () => {
  const { segment, spec } = setup();
  const core = (i: number) => `"request_id":"r${i}","row":0,"ts":"2024-05-01T10:0${i}:00Z","model":"m","version":"1","protocol":"v2","latency_ms":1`;
  const records = [
    `{${core(0)},"n":1,"neg":-1,"s":"x","mixed":1,"b":true,"l":[],"l2":[1,2],"nul":null,"obj":{"a":1},"empty":[],"nested":[[1],[]]}`,
    `{${core(1)},"n":2.5,"neg":3,"mixed":"y","l":[1.5],"l2":[-1],"nul":null,"empty":[],"nested":[[2.5]],"late":"z"}`,
    `{${core(2)},"n":null,"b":false,"l":null,"late":"w"}`,
    `{${core(3)},"n":4,"s`, // a torn last line
  ];
  writeFileSync(segment, `${records.join("\n")}`);
  const db = await OfflineDb.open(ROLL_DB_OPTIONS);
  try {
    const [file] = await rollSegment(db, segment, spec);
    const parquet = `read_parquet(${quoteLiteral(file as string)}, hive_partitioning = false)`;
    const types = Object.fromEntries((await db.describe(parquet)).map((c) => [c.name, c.type]));
    expect(types).toEqual({
      request_id: "VARCHAR",
      row: "INTEGER",
      ts: "TIMESTAMP WITH TIME ZONE",
      model: "VARCHAR",
      version: "VARCHAR",
      protocol: "VARCHAR",
      latency_ms: "DOUBLE",
      n: "DOUBLE",
      neg: "DOUBLE",
      s: "VARCHAR",
      mixed: "JSON",
      b: "BOOLEAN",
      l: "DOUBLE[]",
      l2: "DOUBLE[]",
      obj: "JSON",
      nested: "DOUBLE[][]",
      late: "VARCHAR",
    });
    const rows = await db.query(`SELECT request_id, n, mixed::VARCHAR AS mixed, l, late FROM ${parquet} ORDER BY request_id`);
    expect(rows).toEqual([
      { request_id: "r0", n: 1, mixed: "1", l: [], late: null },
      { request_id: "r1", n: 2.5, mixed: '"y"', l: [1.5], late: "z" },
      { request_id: "r2", n: null, mixed: null, l: null, late: "w" },
    ]);
  } finally {
    db.close();
  }
});

test("a segment of wide records (1024-value lists, 2,500 rows: more than one DuckDB vector) rolls within the memory limit", async () => {
  const { segment, spec } = setup();
  const list = `[${Array.from({ length: 1024 }, (_, k) => Math.fround(Math.sin(k)).toPrecision(9)).join(",")}]`;
  let text = "";
  for (let i = 0; i < 2500; i++) {
    text += `{"request_id":"w${i}","row":0,"ts":"2024-05-01T10:00:00.${String(i % 1000).padStart(3, "0")}Z","model":"wide","version":"1","protocol":"v2","latency_ms":1,"input.x":${list},"prediction":${i}}\n`;
  }
  writeFileSync(segment, text);
  const db = await OfflineDb.open(ROLL_DB_OPTIONS);
  try {
    // The filter's JSON extractions and the typing in one pipeline ran out of the 512 MB limit here.
    const [file] = await rollSegment(db, segment, spec);
    const parquet = `read_parquet(${quoteLiteral(file as string)}, hive_partitioning = false)`;
    expect(await db.query(`SELECT count(*)::INTEGER AS n, max(len("input.x"))::INTEGER AS width FROM ${parquet}`)).toEqual([{ n: 2500, width: 1024 }]);
    expect((await db.describe(parquet)).find((c) => c.name === "input.x")?.type).toBe("DOUBLE[]");
  } finally {
    db.close();
  }
}, 60_000);
