import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { OfflineDb, quoteLiteral } from "../storage/offline/duckdb.js";
import { FeatureStoreError } from "./errors.js";
import { packedGrainsSql, packedKeySql, packingFor, type PackableView, type Packing } from "./historical-packing.js";
import {
  getHistoricalFeatures,
  type FeatureViewSpec,
  type HistoricalFeaturesRequest,
  type JoinStrategy,
} from "./historical.js";

let dir: string;
let db: OfflineDb;
let counter = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flywheel-historical-"));
  db = await OfflineDb.open();
});

afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes the rows of a DuckDB query to a new Parquet or CSV file and returns its path. */
async function write(sql: string, format: "parquet" | "csv" = "parquet"): Promise<string> {
  const path = join(dir, `input-${++counter}.${format}`);
  await db.run(`COPY (${sql}) TO ${quoteLiteral(path)} (FORMAT ${format === "csv" ? "csv, HEADER" : "parquet"})`);
  return path;
}

async function read(path: string): Promise<Record<string, unknown>[]> {
  return db.query(`SELECT * FROM read_parquet(${quoteLiteral(path)})`);
}

function outPath(): string {
  return join(dir, `out-${++counter}.parquet`);
}

const ts = (s: string) => new Date(`${s}Z`);
const T = (s: string) => `TIMESTAMP '${s}'`;

function view(name: string, path: string, extra: Partial<FeatureViewSpec> = {}): FeatureViewSpec {
  return {
    name,
    joinKeys: ["driver_id"],
    source: { path, format: "parquet", timestampField: "event_timestamp", createdTimestampColumn: "created" },
    features: ["conv_rate"],
    ttlSeconds: 0,
    ...extra,
  };
}

/** A database whose ASOF joins always use DuckDB's ASOF operator (small probes use a loop join). */
let asofOperatorDb: OfflineDb;
beforeAll(async () => {
  asofOperatorDb = await OfflineDb.open();
  await asofOperatorDb.run("SET asof_loop_join_threshold = 0");
});
afterAll(() => asofOperatorDb.close());

type Strategy = JoinStrategy | "asof-operator";

async function run(
  request: Omit<HistoricalFeaturesRequest, "out">,
  strategy: Strategy = "auto",
): Promise<{ rows: Record<string, unknown>[]; columns: string[]; count: number }> {
  const out = outPath();
  const options =
    strategy === "asof-operator" ? { strategy: "asof" as const, db: asofOperatorDb } : { strategy };
  const result = await getHistoricalFeatures({ ...request, out }, options);
  const rows = await read(out);
  expect(result.rows).toBe(rows.length);
  expect(Object.keys(rows[0] ?? {})).toEqual(rows.length === 0 ? [] : result.columns);
  return { rows, columns: result.columns, count: result.rows };
}

async function expectError(
  request: Omit<HistoricalFeaturesRequest, "out">,
  field: string,
  ...fragments: string[]
): Promise<void> {
  const out = outPath();
  const error = await getHistoricalFeatures({ ...request, out }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FeatureStoreError);
  const fse = error as FeatureStoreError;
  expect(fse.field).toBe(field);
  expect(fse.code).toBe("FW_REQUEST_INVALID_FIELD");
  for (const f of fragments) expect(fse.message).toContain(f);
  expect(existsSync(out)).toBe(false);
}

const STRATEGIES: Strategy[] = ["auto", "asof", "asof-operator", "window"];

describe.each(STRATEGIES)("point-in-time join (%s)", (strategy) => {
  test("backfill: several rows per key, the latest at or before each entity timestamp wins", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1001, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, 0.1),
      (1001, ${T("2024-01-01 11:00:00")}, ${T("2024-01-01 11:00:00")}, 0.2),
      (1001, ${T("2024-01-01 12:00:00")}, ${T("2024-01-01 12:00:00")}, 0.3),
      (1002, ${T("2024-01-01 10:30:00")}, ${T("2024-01-01 10:30:00")}, 1.0)
    ) t(driver_id, event_timestamp, created, conv_rate)`);
    const entities = await write(`SELECT * FROM (VALUES
      (1001, ${T("2024-01-01 10:59:59")}),
      (1001, ${T("2024-01-01 11:00:00")}),
      (1001, ${T("2024-01-02 00:00:00")}),
      (1002, ${T("2024-01-01 10:00:00")}),
      (1002, ${T("2024-01-01 11:00:00")}),
      (1003, ${T("2024-01-01 12:00:00")}),
      (1001, ${T("2024-01-01 09:00:00")})
    ) t(driver_id, event_timestamp)`);
    const { rows, columns } = await run(
      { entities: { path: entities, format: "parquet" }, views: [view("driver", source)], features: ["driver:conv_rate"] },
      strategy,
    );
    expect(columns).toEqual(["driver_id", "event_timestamp", "conv_rate"]);
    expect(rows.map((r) => r.conv_rate)).toEqual([0.1, 0.2, 0.3, null, 1.0, null, null]);
    expect(rows.map((r) => r.event_timestamp)).toEqual([
      ts("2024-01-01 10:59:59"),
      ts("2024-01-01 11:00:00"),
      ts("2024-01-02 00:00:00"),
      ts("2024-01-01 10:00:00"),
      ts("2024-01-01 11:00:00"),
      ts("2024-01-01 12:00:00"),
      ts("2024-01-01 09:00:00"),
    ]);
  });

  test("ties on the event timestamp go to the latest created timestamp (NULL created loses)", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:05:00")}, 0.1),
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:30:00")}, 0.2),
      (1, ${T("2024-01-01 10:00:00")}, NULL, 0.3),
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:10:00")}, 0.4),
      (2, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, 0.5),
      (2, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, 0.6)
    ) t(driver_id, event_timestamp, created, conv_rate)`);
    const entities = await write(`SELECT * FROM (VALUES (1, ${T("2024-01-01 12:00:00")}), (2, ${T("2024-01-01 12:00:00")})) t(driver_id, event_timestamp)`);
    const { rows } = await run(
      { entities: { path: entities, format: "parquet" }, views: [view("driver", source)], features: ["driver:conv_rate"] },
      strategy,
    );
    // A full tie (same event and created timestamps) goes to the row that comes last in the source.
    expect(rows.map((r) => r.conv_rate)).toEqual([0.2, 0.6]);
  });

  test("a tie's winner gives its NULL feature values, not a loser's", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:05:00")}, 0.1, 'a'),
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:30:00")}, NULL, 'b'),
      (2, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, 0.5, NULL),
      (2, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, NULL, NULL),
      (3, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:30:00")}, NULL, NULL),
      (3, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:05:00")}, 0.7, 'c')
    ) t(driver_id, event_timestamp, created, conv_rate, name)`);
    const entities = await write(
      `SELECT * FROM (VALUES (1, ${T("2024-01-01 12:00:00")}), (2, ${T("2024-01-01 12:00:00")}), (3, ${T("2024-01-01 12:00:00")})) t(driver_id, event_timestamp)`,
    );
    const { rows } = await run(
      {
        entities: { path: entities, format: "parquet" },
        views: [view("driver", source, { features: ["conv_rate", "name"] })],
        features: ["driver:conv_rate", "driver:name"],
      },
      strategy,
    );
    expect(rows.map((r) => [r.conv_rate, r.name])).toEqual([
      [null, "b"],
      [null, null],
      [null, null],
    ]);
  });

  test("ttl window: both edges inclusive, one second outside excluded", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, 'a'),
      (2, ${T("2024-01-01 10:00:00")}, 'b'),
      (2, ${T("2024-01-01 10:00:01")}, 'c')
    ) t(driver_id, event_timestamp, conv_rate)`);
    const entities = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 11:00:00")}),
      (1, ${T("2024-01-01 11:00:01")}),
      (1, ${T("2024-01-01 10:00:00")}),
      (1, ${T("2024-01-01 09:59:59")}),
      (2, ${T("2024-01-01 10:00:00")}),
      (2, ${T("2024-01-01 11:00:01")}),
      (2, ${T("2024-01-01 11:00:02")})
    ) t(driver_id, event_timestamp)`);
    const spec = view("driver", source, {
      ttlSeconds: 3600,
      source: { path: source, format: "parquet", timestampField: "event_timestamp" },
    });
    const { rows } = await run(
      { entities: { path: entities, format: "parquet" }, views: [spec], features: ["driver:conv_rate"] },
      strategy,
    );
    expect(rows.map((r) => r.conv_rate)).toEqual(["a", null, "a", null, "b", "c", null]);

    // ttl 0: no lower bound at all.
    const { rows: unbounded } = await run(
      { entities: { path: entities, format: "parquet" }, views: [{ ...spec, ttlSeconds: 0 }], features: ["driver:conv_rate"] },
      strategy,
    );
    expect(unbounded.map((r) => r.conv_rate)).toEqual(["a", "a", "a", null, "b", "c", "c"]);
  });

  test("ttl 0 reaches back years", async () => {
    const source = await write(`SELECT 1 AS driver_id, ${T("2014-01-01 00:00:00")} AS event_timestamp, 7 AS conv_rate`);
    const entities = await write(`SELECT 1 AS driver_id, ${T("2024-06-01 00:00:00")} AS event_timestamp`);
    const spec = view("driver", source, { source: { path: source, format: "parquet", timestampField: "event_timestamp" } });
    expect((await run({ entities: { path: entities, format: "parquet" }, views: [spec], features: ["driver:conv_rate"] }, strategy)).rows)
      .toEqual([{ driver_id: 1, event_timestamp: ts("2024-06-01 00:00:00"), conv_rate: 7 }]);
    const bounded = { ...spec, ttlSeconds: 86_400 * 365 };
    expect((await run({ entities: { path: entities, format: "parquet" }, views: [bounded], features: ["driver:conv_rate"] }, strategy)).rows)
      .toEqual([{ driver_id: 1, event_timestamp: ts("2024-06-01 00:00:00"), conv_rate: null }]);
  });

  test("duplicate entity rows all come back, in input order; NULL keys and timestamps give NULL features", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, 10),
      (2, ${T("2024-01-01 10:00:00")}, 20),
      (NULL, ${T("2024-01-01 10:00:00")}, 99)
    ) t(driver_id, event_timestamp, conv_rate)`);
    const entities = await write(`SELECT * FROM (VALUES
      ('r0', 2, ${T("2024-01-01 12:00:00")}),
      ('r1', 1, ${T("2024-01-01 12:00:00")}),
      ('r2', 2, ${T("2024-01-01 12:00:00")}),
      ('r3', 1, ${T("2024-01-01 12:00:00")}),
      ('r4', 1, ${T("2024-01-01 12:00:00")}),
      ('r5', NULL, ${T("2024-01-01 12:00:00")}),
      ('r6', 1, NULL),
      ('r7', 2, ${T("2024-01-01 09:00:00")})
    ) t(label, driver_id, event_timestamp)`);
    const spec = view("driver", source, { source: { path: source, format: "parquet", timestampField: "event_timestamp" } });
    const { rows, columns } = await run(
      { entities: { path: entities, format: "parquet" }, views: [spec], features: ["driver:conv_rate"] },
      strategy,
    );
    expect(columns).toEqual(["label", "driver_id", "event_timestamp", "conv_rate"]);
    expect(rows.map((r) => [r.label, r.conv_rate])).toEqual([
      ["r0", 20],
      ["r1", 10],
      ["r2", 20],
      ["r3", 10],
      ["r4", 10],
      ["r5", null],
      ["r6", null],
      ["r7", null],
    ]);
  });

  test("several views with different join keys, including a composite key", async () => {
    const drivers = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, 0.5), (2, ${T("2024-01-01 10:00:00")}, 0.7)
    ) t(driver_id, event_timestamp, conv_rate)`);
    const customers = await write(`SELECT * FROM (VALUES
      ('c1', ${T("2024-01-01 09:00:00")}, 100), ('c1', ${T("2024-01-01 11:00:00")}, 110), ('c2', ${T("2024-01-01 09:00:00")}, 200)
    ) t(customer_id, ts, balance)`);
    const pairs = await write(`SELECT * FROM (VALUES
      (1, 'c1', ${T("2024-01-01 08:00:00")}, 3), (2, 'c1', ${T("2024-01-01 08:00:00")}, 4)
    ) t(driver_id, customer_id, ts, trips)`);
    const entities = await write(`SELECT * FROM (VALUES
      (1, 'c1', ${T("2024-01-01 10:30:00")}),
      (2, 'c2', ${T("2024-01-01 12:00:00")}),
      (2, 'c1', ${T("2024-01-01 09:30:00")})
    ) t(driver_id, customer_id, event_timestamp)`);
    const views: FeatureViewSpec[] = [
      view("driver", drivers, { source: { path: drivers, format: "parquet", timestampField: "event_timestamp" } }),
      {
        name: "customer",
        joinKeys: ["customer_id"],
        source: { path: customers, format: "parquet", timestampField: "ts" },
        features: ["balance"],
        ttlSeconds: 0,
      },
      {
        name: "pair",
        joinKeys: ["driver_id", "customer_id"],
        source: { path: pairs, format: "parquet", timestampField: "ts" },
        features: ["trips"],
        ttlSeconds: 0,
      },
    ];
    const { rows, columns } = await run(
      {
        entities: { path: entities, format: "parquet" },
        views,
        features: ["pair:trips", "customer:balance", "driver:conv_rate"],
      },
      strategy,
    );
    expect(columns).toEqual(["driver_id", "customer_id", "event_timestamp", "trips", "balance", "conv_rate"]);
    expect(rows.map((r) => [r.trips, r.balance, r.conv_rate])).toEqual([
      [3, 100, 0.5],
      [null, 200, 0.7],
      [4, 100, null],
    ]);
  });

  test("naive timestamps are UTC; timezone-aware ones are converted", async () => {
    await db.run("SET TimeZone = 'UTC'");
    const naiveSource = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, 'ten'), (1, ${T("2024-01-01 11:00:00")}, 'eleven')
    ) t(driver_id, event_timestamp, conv_rate)`);
    const awareSource = await write(`SELECT * FROM (VALUES
      (1, TIMESTAMPTZ '2024-01-01 12:00:00+02:00', 'ten'), (1, TIMESTAMPTZ '2024-01-01 06:00:00-05:00', 'eleven')
    ) t(driver_id, event_timestamp, conv_rate)`);
    // 12:30+02:00 is 10:30 UTC: sees 'ten' but not 'eleven' (11:00 UTC).
    const awareEntities = await write(`SELECT 1 AS driver_id, TIMESTAMPTZ '2024-01-01 12:30:00+02:00' AS event_timestamp`);
    const naiveEntities = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:30:00")} AS event_timestamp`);
    const csvEntities = join(dir, `aware-${++counter}.csv`);
    writeFileSync(csvEntities, "driver_id,event_timestamp\n1,2024-01-01T05:30:00-05:00\n1,2024-01-01T11:00:00+00:00\n");
    for (const source of [naiveSource, awareSource]) {
      const spec = view("driver", source, { source: { path: source, format: "parquet", timestampField: "event_timestamp" } });
      for (const entities of [awareEntities, naiveEntities]) {
        const { rows } = await run(
          { entities: { path: entities, format: "parquet" }, views: [spec], features: ["driver:conv_rate"] },
          strategy,
        );
        expect(rows.map((r) => [r.event_timestamp, r.conv_rate])).toEqual([[ts("2024-01-01 10:30:00"), "ten"]]);
      }
      const { rows } = await run(
        { entities: { path: csvEntities, format: "csv" }, views: [spec], features: ["driver:conv_rate"] },
        strategy,
      );
      expect(rows.map((r) => r.conv_rate)).toEqual(["ten", "eleven"]);
    }
  });
});

describe.each(STRATEGIES)("filterByCreatedTimestamp (%s)", (strategy) => {
  test("rows created after the entity timestamp are dropped only when asked", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 09:00:00")}, ${T("2024-01-01 09:01:00")}, 'early'),
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:05:00")}, 'late'),
      (2, ${T("2024-01-01 09:00:00")}, ${T("2024-01-01 09:00:00")}, 'a'),
      (2, ${T("2024-01-01 09:00:00")}, ${T("2024-01-01 11:00:00")}, 'b'),
      (3, ${T("2024-01-01 09:00:00")}, ${T("2024-01-01 12:00:00")}, 'x'),
      (4, ${T("2024-01-01 09:00:00")}, NULL, 'unknown')
    ) t(driver_id, event_timestamp, created, conv_rate)`);
    const entities = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:02:00")}),
      (1, ${T("2024-01-01 10:05:00")}),
      (2, ${T("2024-01-01 10:00:00")}),
      (3, ${T("2024-01-01 10:00:00")}),
      (4, ${T("2024-01-01 10:00:00")})
    ) t(driver_id, event_timestamp)`);
    const base = { entities: { path: entities, format: "parquet" as const }, views: [view("driver", source)], features: ["driver:conv_rate"] };
    const plain = await run(base, strategy);
    expect(plain.rows.map((r) => r.conv_rate)).toEqual(["late", "late", "b", "x", "unknown"]);
    const filtered = await run({ ...base, filterByCreatedTimestamp: true }, strategy);
    expect(filtered.rows.map((r) => r.conv_rate)).toEqual(["early", "late", "a", null, "unknown"]);
  });

  test("a late latest row falls back to an older row, within the ttl and the created-timestamp tie-break", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 08:00:00")}, ${T("2024-01-01 08:00:00")}, 'old'),
      (1, ${T("2024-01-01 09:00:00")}, ${T("2024-01-01 09:30:00")}, 'tie-early'),
      (1, ${T("2024-01-01 09:00:00")}, ${T("2024-01-01 09:40:00")}, 'tie-late'),
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 12:00:00")}, 'newest'),
      (2, ${T("2024-01-01 07:00:00")}, ${T("2024-01-01 07:00:00")}, 'stale'),
      (2, ${T("2024-01-01 09:50:00")}, ${T("2024-01-01 11:00:00")}, 'late')
    ) t(driver_id, event_timestamp, created, conv_rate)`);
    const entities = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:30:00")}),
      (1, ${T("2024-01-01 09:35:00")}),
      (1, ${T("2024-01-01 09:10:00")}),
      (1, ${T("2024-01-01 12:00:00")}),
      (2, ${T("2024-01-01 10:00:00")})
    ) t(driver_id, event_timestamp)`);
    const request = { entities: { path: entities, format: "parquet" as const }, features: ["driver:conv_rate"], filterByCreatedTimestamp: true };
    const unbounded = await run({ ...request, views: [view("driver", source)] }, strategy);
    expect(unbounded.rows.map((r) => r.conv_rate)).toEqual(["tie-late", "tie-early", "old", "newest", "stale"]);
    // With a 2 h ttl, 07:00 is too old for the entity row at 10:00.
    const bounded = await run({ ...request, views: [view("driver", source, { ttlSeconds: 7200 })] }, strategy);
    expect(bounded.rows.map((r) => r.conv_rate)).toEqual(["tie-late", "tie-early", "old", "newest", null]);
  });
});

describe("feature names, field mapping and formats", () => {
  async function twoViews() {
    const a = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:00:00")} AS event_timestamp, 4.5 AS rating, 1 AS trips`);
    const b = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:00:00")} AS event_timestamp, 3.5 AS rating`);
    const entities = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 11:00:00")} AS event_timestamp`);
    const spec = (name: string, path: string, features: string[]): FeatureViewSpec => ({
      name,
      joinKeys: ["driver_id"],
      source: { path, format: "parquet", timestampField: "event_timestamp" },
      features,
      ttlSeconds: 0,
    });
    return {
      entities: { path: entities, format: "parquet" as const },
      views: [spec("driver_a", a, ["rating", "trips"]), spec("driver_b", b, ["rating"])],
      features: ["driver_a:rating", "driver_b:rating", "driver_a:trips"],
    };
  }

  test("fullFeatureNames prefixes columns with the view; without it a collision names both refs", async () => {
    const request = await twoViews();
    const { rows, columns } = await run({ ...request, fullFeatureNames: true });
    expect(columns).toEqual(["driver_id", "event_timestamp", "driver_a__rating", "driver_b__rating", "driver_a__trips"]);
    expect(rows).toEqual([
      {
        driver_id: 1,
        event_timestamp: ts("2024-01-01 11:00:00"),
        driver_a__rating: 4.5,
        driver_b__rating: 3.5,
        driver_a__trips: 1,
      },
    ]);
    await expectError(request, "features", "'driver_a:rating'", "'driver_b:rating'", "fullFeatureNames");
    const single = await run({ ...request, features: ["driver_b:rating", "driver_a:trips"] });
    expect(single.columns).toEqual(["driver_id", "event_timestamp", "rating", "trips"]);
    expect(single.rows.map((r) => [r.rating, r.trips])).toEqual([[3.5, 1]]);
  });

  test("field mapping renames source columns; timestamp fields may be named either way", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (7, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, 0.25),
      (7, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:01:00")}, 0.75)
    ) t(drv, ts_raw, created_raw, conv_rate_src)`);
    const entities = await write(`SELECT 7 AS driver_id, ${T("2024-01-01 12:00:00")} AS event_timestamp`);
    const mapping = { drv: "driver_id", conv_rate_src: "conv_rate", created_raw: "created" };
    for (const timestampField of ["ts_raw", "event_ts"]) {
      const spec: FeatureViewSpec = {
        name: "driver",
        joinKeys: ["driver_id"],
        source: {
          path: source,
          format: "parquet",
          timestampField,
          createdTimestampColumn: timestampField === "ts_raw" ? "created_raw" : "created",
          fieldMapping: { ...mapping, ts_raw: "event_ts" },
        },
        features: ["conv_rate"],
        ttlSeconds: 0,
      };
      const { rows } = await run({ entities: { path: entities, format: "parquet" }, views: [spec], features: ["driver:conv_rate"] });
      expect(rows.map((r) => r.conv_rate)).toEqual([0.75]);
    }
    // The mapped-away source name is not a feature name any more.
    await expectError(
      {
        entities: { path: entities, format: "parquet" },
        views: [
          {
            name: "driver",
            joinKeys: ["driver_id"],
            source: { path: source, format: "parquet", timestampField: "ts_raw", fieldMapping: mapping },
            features: ["conv_rate_src"],
            ttlSeconds: 0,
          },
        ],
        features: ["driver:conv_rate_src"],
      },
      "views.driver.features",
      source,
      "'conv_rate_src'",
    );
  });

  test("CSV entities and CSV sources", async () => {
    const source = join(dir, `source-${++counter}.csv`);
    writeFileSync(
      source,
      "driver_id,event_timestamp,created,conv_rate\n1,2024-01-01 10:00:00,2024-01-01 10:00:00,0.5\n1,2024-01-01 11:00:00,2024-01-01 11:00:00,0.6\n",
    );
    const entities = join(dir, `entities-${++counter}.csv`);
    writeFileSync(entities, "event_timestamp,driver_id,label\n2024-01-01 10:30:00,1,x\n2024-01-01 11:30:00,1,y\n2024-01-01 09:00:00,1,z\n");
    const spec = view("driver", source, {
      source: { path: source, format: "csv", timestampField: "event_timestamp", createdTimestampColumn: "created" },
      ttlSeconds: 3600,
    });
    const { rows, columns } = await run({ entities: { path: entities, format: "csv" }, views: [spec], features: ["driver:conv_rate"] });
    expect(columns).toEqual(["event_timestamp", "driver_id", "label", "conv_rate"]);
    expect(rows.map((r) => [r.label, r.conv_rate])).toEqual([["x", 0.5], ["y", 0.6], ["z", null]]);
  });

  test("a custom entity timestamp column and an empty entity file", async () => {
    const source = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:00:00")} AS event_timestamp, 0.5 AS conv_rate`);
    const entities = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:30:00")} AS as_of`);
    const spec = view("driver", source, { source: { path: source, format: "parquet", timestampField: "event_timestamp" } });
    const { rows } = await run({ entities: { path: entities, format: "parquet", timestampField: "as_of" }, views: [spec], features: ["driver:conv_rate"] });
    expect(rows).toEqual([{ driver_id: 1, as_of: ts("2024-01-01 10:30:00"), conv_rate: 0.5 }]);
    const empty = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:30:00")} AS event_timestamp WHERE false`);
    const out = outPath();
    const result = await getHistoricalFeatures({ entities: { path: empty, format: "parquet" }, views: [spec], features: ["driver:conv_rate"], out });
    expect(result).toEqual({ rows: 0, columns: ["driver_id", "event_timestamp", "conv_rate"] });
    expect(await read(out)).toEqual([]);
  });
});

describe.each(STRATEGIES)("row positions and appended files (%s)", (strategy) => {
  const entity = (rows: string) => write(`SELECT * FROM (VALUES ${rows}) t(driver_id, event_timestamp)`);

  test("appended Parquet files come after the source, so a full tie goes to the latest append", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, 'src'),
      (2, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:05:00")}, 'src2')
    ) t(driver_id, event_timestamp, created, conv_rate)`);
    const pushA = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, 'push-a'),
      (2, ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:01:00")}, 'push-a2')
    ) t(driver_id, event_timestamp, created, conv_rate)`);
    // No created column at all: its rows lose every tie.
    const pushB = await write(`SELECT * FROM (VALUES
      (1, ${T("2024-01-01 10:00:00")}, 'push-b'),
      (2, ${T("2024-01-01 11:00:00")}, 'push-b2')
    ) t(driver_id, event_timestamp, conv_rate)`);
    const spec = view("driver", source);
    const { rows } = await run(
      {
        entities: { path: await entity(`(1, ${T("2024-01-01 12:00:00")}), (2, ${T("2024-01-01 10:30:00")}), (2, ${T("2024-01-01 11:30:00")})`), format: "parquet" },
        views: [{ ...spec, source: { ...spec.source, appendedParquet: [pushA, pushB] } }],
        features: ["driver:conv_rate"],
      },
      strategy,
    );
    expect(rows.map((r) => r.conv_rate)).toEqual(["push-a", "src2", "push-b2"]);
  });

  test("a glob source orders its files by name; a column named like Parquet's row numbers is only data", async () => {
    const sub = mkdtempSync(join(dir, "glob-"));
    const row = (label: string, n: number) => `SELECT 1 AS driver_id, ${T("2024-01-01 10:00:00")} AS event_timestamp, ${T("2024-01-01 10:00:00")} AS created, '${label}' AS conv_rate, ${n} AS file_row_number`;
    await db.run(`COPY (${row("b1", 0)} UNION ALL ${row("b2", 0)}) TO ${quoteLiteral(join(sub, "b.parquet"))}`);
    await db.run(`COPY (${row("a", 7)}) TO ${quoteLiteral(join(sub, "a.parquet"))}`);
    const entities = await entity(`(1, ${T("2024-01-01 11:00:00")})`);
    const glob = view("driver", join(sub, "*.parquet"), { features: ["conv_rate", "file_row_number"] });
    const { rows } = await run(
      { entities: { path: entities, format: "parquet" }, views: [glob], features: ["driver:conv_rate", "driver:file_row_number"] },
      strategy,
    );
    expect(rows.map((r) => [r.conv_rate, r.file_row_number])).toEqual([["b2", 0]]);
    // Within one file whose column shadows the row numbers, the row that comes last still wins.
    const shadowed = await write(`${row("first", 9)} UNION ALL ${row("second", 1)} UNION ALL ${row("third", 5)}`);
    const single = await run(
      { entities: { path: entities, format: "parquet" }, views: [view("driver", shadowed)], features: ["driver:conv_rate"] },
      strategy,
    );
    expect(single.rows.map((r) => r.conv_rate)).toEqual(["third"]);
  });

  test("without a created column a tie goes to the last row (Parquet, CSV, appended), on a composite key, NULLs included", async () => {
    const rows = [
      [1, "a", "10:00:00", "'first'", 1],
      [1, "a", "10:00:00", "NULL", 2],
      [1, "b", "10:00:00", "'other-key'", 3],
      [2, "a", "09:00:00", "'older'", 4],
      [2, "a", "10:00:00", "'last'", 5],
      [2, "a", "10:00:00", "NULL", 6],
      [2, "a", "10:00:00", "'winner'", 7],
    ] as const;
    const sql = (part: readonly (typeof rows)[number][]) =>
      `SELECT * FROM (VALUES ${part.map(([d, c, t, v, n]) => `(${d}, '${c}', ${T(`2024-01-01 ${t}`)}, ${v}, ${n})`).join(", ")}) ` +
      "t(driver_id, city, event_timestamp, conv_rate, n)";
    const entities = await write(
      `SELECT * FROM (VALUES (1, 'a', ${T("2024-01-01 11:00:00")}), (2, 'a', ${T("2024-01-01 11:00:00")}), (1, 'b', ${T("2024-01-01 11:00:00")}), ` +
        `(2, 'a', ${T("2024-01-01 09:30:00")})) t(driver_id, city, event_timestamp)`,
    );
    const spec = (path: string, format: "parquet" | "csv", appendedParquet?: string[]): FeatureViewSpec => ({
      name: "driver",
      joinKeys: ["driver_id", "city"],
      source: { path, format, timestampField: "event_timestamp", ...(appendedParquet === undefined ? {} : { appendedParquet }) },
      features: ["conv_rate", "n"],
      ttlSeconds: 0,
    });
    const sources = [
      spec(await write(sql(rows)), "parquet"),
      spec(await write(sql(rows), "csv"), "csv"),
      spec(await write(sql(rows.slice(0, 5))), "parquet", [await write(sql(rows.slice(5, 6))), await write(sql(rows.slice(6)))]),
    ];
    for (const s of sources) {
      const { rows: out } = await run({ entities: { path: entities, format: "parquet" }, views: [s], features: ["driver:conv_rate", "driver:n"] }, strategy);
      expect(out.map((r) => [r.conv_rate, Number(r.n)])).toEqual([
        [null, 2],
        ["winner", 7],
        ["other-key", 3],
        ["older", 4],
      ]);
    }
  });

  test("infinite timestamps count as missing; extreme ones do not overflow the ttl window", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, '-infinity'::TIMESTAMP, 'minus-infinity'),
      (1, ${T("2024-01-01 00:00:00")}, 'real'),
      (2, '290309-12-22 (BC) 00:00:00'::TIMESTAMP, 'first-instant'),
      (2, '294247-01-10 04:00:54'::TIMESTAMP, 'last-second')
    ) t(driver_id, event_timestamp, conv_rate)`);
    const entities = await entity(`(1, 'infinity'::TIMESTAMP), (1, ${T("2024-01-02 00:00:00")}), (1, ${T("2023-01-01 00:00:00")}),
      (2, '290309-12-22 (BC) 00:00:00'::TIMESTAMP), (2, '294247-01-10 04:00:54'::TIMESTAMP)`);
    const spec = view("driver", source, { source: { path: source, format: "parquet", timestampField: "event_timestamp" }, ttlSeconds: 86_400 });
    const out = outPath();
    const options = strategy === "asof-operator" ? { strategy: "asof" as const, db: asofOperatorDb } : { strategy };
    await getHistoricalFeatures({ entities: { path: entities, format: "parquet" }, views: [spec], features: ["driver:conv_rate"], out }, options);
    // Infinite timestamps have no JS Date, so only the feature column is read back.
    const rows = await db.query(`SELECT conv_rate FROM read_parquet(${quoteLiteral(out)})`);
    expect(rows.map((r) => r.conv_rate)).toEqual([null, "real", null, "first-instant", "last-second"]);
  });
});

describe("untrusted names and shared databases", () => {
  test("paths and column names with quotes, spaces and SQL are quoted, not executed", async () => {
    const sub = mkdtempSync(join(dir, "it's a \"dir\"; DROP TABLE x; -- "));
    const source = join(sub, "src'1.parquet");
    await db.run(`COPY (SELECT 1 AS "driver id", ${T("2024-01-01 10:00:00")} AS "ts'", 0.5 AS "rate"" --") TO ${quoteLiteral(source)}`);
    const entities = join(sub, "ent'.parquet");
    await db.run(`COPY (SELECT 1 AS "driver id", ${T("2024-01-01 11:00:00")} AS "when") TO ${quoteLiteral(entities)}`);
    const out = join(sub, "out'.parquet");
    const result = await getHistoricalFeatures({
      entities: { path: entities, format: "parquet", timestampField: "when" },
      views: [
        {
          name: "v'x",
          joinKeys: ["driver id"],
          source: { path: source, format: "parquet", timestampField: "ts'" },
          features: ['rate" --'],
          ttlSeconds: 0,
        },
      ],
      features: ['v\'x:rate" --'],
      fullFeatureNames: true,
      out,
    });
    expect(result.columns).toEqual(["driver id", "when", 'v\'x__rate" --']);
    expect(await read(out)).toEqual([{ "driver id": 1, when: ts("2024-01-01 11:00:00"), 'v\'x__rate" --': 0.5 }]);
  });

  test("join keys and features named like internal columns (ts, ets, cr, seq, row, k0, f0)", async () => {
    const source = await write(`SELECT * FROM (VALUES
      (1, 'a', ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:00:00")}, 10, 'x', 0.5, 7),
      (1, 'a', ${T("2024-01-01 10:00:00")}, ${T("2024-01-01 10:30:00")}, 11, 'y', 0.6, 8),
      (2, 'b', ${T("2024-01-01 09:00:00")}, ${T("2024-01-01 12:00:00")}, 12, 'z', 0.7, 9)
    ) t(ts, ets, event_timestamp, cr, seq, "row", k0, f0)`);
    const entities = await write(`SELECT * FROM (VALUES
      (1, 'a', ${T("2024-01-01 11:00:00")}), (2, 'b', ${T("2024-01-01 11:00:00")}), (2, 'b', ${T("2024-01-01 12:00:00")})
    ) t(ts, ets, event_timestamp)`);
    const spec: FeatureViewSpec = {
      name: "odd",
      joinKeys: ["ts", "ets"],
      source: { path: source, format: "parquet", timestampField: "event_timestamp", createdTimestampColumn: "cr" },
      features: ["seq", "row", "k0", "f0"],
      ttlSeconds: 0,
    };
    const request = { entities: { path: entities, format: "parquet" as const }, views: [spec], features: ["odd:seq", "odd:row", "odd:k0", "odd:f0"] };
    for (const strategy of STRATEGIES) {
      const plain = await run(request, strategy);
      expect(plain.rows.map((r) => [r.seq, r.row, r.k0, r.f0])).toEqual([[11, "y", 0.6, 8], [12, "z", 0.7, 9], [12, "z", 0.7, 9]]);
      const filtered = await run({ ...request, filterByCreatedTimestamp: true }, strategy);
      expect(filtered.rows.map((r) => r.seq)).toEqual([11, null, 12]);
    }
    const reserved = await write(`SELECT 1 AS ts, 'a' AS ets, ${T("2024-01-01 10:00:00")} AS event_timestamp, 0 AS __fw_seq`);
    await expectError({ ...request, views: [{ ...spec, source: { ...spec.source, path: reserved, createdTimestampColumn: undefined }, features: ["__fw_seq"] }], features: ["odd:__fw_seq"] }, "views.odd.source.path", reserved, "'__fw_seq'");
  });

  test("concurrent calls on one shared database do not interfere", async () => {
    const source = await write(`SELECT range::INTEGER % 10 AS driver_id, ${T("2024-01-01 00:00:00")} + to_seconds(range) AS event_timestamp, range AS v FROM range(1000)`);
    const entitiesA = await write(`SELECT range::INTEGER % 10 AS driver_id, ${T("2024-01-01 00:05:00")} AS event_timestamp FROM range(100)`);
    const entitiesB = await write(`SELECT range::INTEGER % 10 AS driver_id, ${T("2024-01-01 00:10:00")} AS event_timestamp FROM range(50)`);
    const spec: FeatureViewSpec = {
      name: "d",
      joinKeys: ["driver_id"],
      source: { path: source, format: "parquet", timestampField: "event_timestamp" },
      features: ["v"],
      ttlSeconds: 0,
    };
    const [outA, outB] = [outPath(), outPath()];
    const [a, b] = await Promise.all([
      getHistoricalFeatures({ entities: { path: entitiesA, format: "parquet" }, views: [spec], features: ["d:v"], out: outA }, { db }),
      getHistoricalFeatures({ entities: { path: entitiesB, format: "parquet" }, views: [spec], features: ["d:v"], out: outB }, { db }),
    ]);
    expect([a.rows, b.rows]).toEqual([100, 50]);
    // At 00:05:00 (second 300, inclusive) key 0 last saw second 300 and key k > 0 second 290 + k.
    expect((await read(outA)).map((r) => Number(r.v))).toEqual(Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? 300 : 290 + (i % 10))));
    expect((await read(outB)).map((r) => Number(r.v))).toEqual(Array.from({ length: 50 }, (_, i) => (i % 10 === 0 ? 600 : 590 + (i % 10))));
  });
});

describe("errors", () => {
  async function fixture() {
    const source = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:00:00")} AS event_timestamp, 0.5 AS conv_rate, 'x' AS name`);
    const entities = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:30:00")} AS event_timestamp`);
    const spec = view("driver", source, { source: { path: source, format: "parquet", timestampField: "event_timestamp" } });
    return { source, entities, spec, request: { entities: { path: entities, format: "parquet" as const }, views: [spec], features: ["driver:conv_rate"] } };
  }

  test("a source without its timestamp column or join key names the file and the column", async () => {
    const { source, spec, request } = await fixture();
    await expectError(
      { ...request, views: [{ ...spec, source: { ...spec.source, timestampField: "ts" } }] },
      "views.driver.source.timestampField",
      source,
      "'ts'",
    );
    await expectError(
      { ...request, views: [{ ...spec, source: { ...spec.source, createdTimestampColumn: "created_at" } }] },
      "views.driver.source.createdTimestampColumn",
      source,
      "'created_at'",
    );
    await expectError(
      { ...request, views: [{ ...spec, source: { ...spec.source, timestampField: "name" } }] },
      "views.driver.source.timestampField",
      source,
      "'name'",
      "VARCHAR",
    );
    await expectError({ ...request, views: [{ ...spec, joinKeys: ["driver_id", "vehicle_id"] }] }, "views.driver.joinKeys", source, "'vehicle_id'");
  });

  test("entities without their timestamp column or a join key name the file and the column", async () => {
    const { entities, spec, request } = await fixture();
    await expectError({ ...request, entities: { ...request.entities, timestampField: "as_of" } }, "entities.timestampField", entities, "'as_of'");
    const other = await write(`SELECT 1 AS rider_id, 1 AS driver_id, ${T("2024-01-01 10:30:00")} AS event_timestamp`);
    const riderSource = await write(`SELECT 1 AS rider, ${T("2024-01-01 10:00:00")} AS event_timestamp, 2 AS score`);
    await expectError(
      {
        ...request,
        entities: { path: other, format: "parquet" },
        views: [spec, { ...spec, name: "rider", joinKeys: ["rider"], source: { ...spec.source, path: riderSource }, features: ["score"] }],
        features: ["driver:conv_rate", "rider:score"],
      },
      "views.rider.joinKeys",
      other,
      "'rider'",
    );
  });

  test("unknown views and features list the valid names", async () => {
    const { request } = await fixture();
    await expectError({ ...request, features: ["drivers:conv_rate"] }, "features", "'drivers'", "valid views: 'driver'");
    await expectError({ ...request, features: ["driver:acc_rate"] }, "features", "'acc_rate'", "'driver:conv_rate'");
    await expectError({ ...request, features: ["conv_rate"] }, "features", "view:feature");
    await expectError({ ...request, features: [] }, "features");
    await expectError({ ...request, features: ["driver:conv_rate", "driver:conv_rate"] }, "features", "twice");
  });

  test("a join key whose types cannot be compared names the key", async () => {
    const { spec, request } = await fixture();
    const stringKeys = await write(`SELECT '1' AS driver_id, ${T("2024-01-01 10:30:00")} AS event_timestamp`);
    await expectError({ ...request, entities: { path: stringKeys, format: "parquet" } }, "views.driver.joinKeys", "'driver_id'", "VARCHAR", "INTEGER");
    // Integer widths and floats compare fine.
    const bigKeys = await write(`SELECT 1::BIGINT AS driver_id, ${T("2024-01-01 10:30:00")} AS event_timestamp`);
    const { rows } = await run({ ...request, entities: { path: bigKeys, format: "parquet" }, views: [spec] });
    expect(rows.map((r) => r.conv_rate)).toEqual([0.5]);
  });

  test("entity columns may not use the reserved '__fw_' prefix", async () => {
    const { request } = await fixture();
    const reserved = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:30:00")} AS event_timestamp, 0 AS __fw_v0_ts`);
    await expectError({ ...request, entities: { path: reserved, format: "parquet" } }, "entities.path", reserved, "'__fw_v0_ts'", "reserved");
  });

  test("missing files, entity-column collisions and bad ttl are rejected", async () => {
    const { spec, request } = await fixture();
    const missing = join(dir, "does-not-exist.parquet");
    await expectError({ ...request, entities: { path: missing, format: "parquet" } }, "entities.path", missing);
    await expectError({ ...request, views: [{ ...spec, source: { ...spec.source, path: missing } }] }, "views.driver.source.path", missing);
    const clash = await write(`SELECT 1 AS driver_id, ${T("2024-01-01 10:30:00")} AS event_timestamp, 0 AS conv_rate`);
    await expectError({ ...request, entities: { path: clash, format: "parquet" } }, "features", "'conv_rate'", clash);
    await expectError({ ...request, views: [{ ...spec, ttlSeconds: -1 }] }, "views.driver.ttlSeconds");
  });

  test("a failure while writing leaves neither a partial output nor a temp file, and keeps the old output", async () => {
    const { spec, request } = await fixture();
    const sub = mkdtempSync(join(dir, "glob-"));
    // The first file fixes the schema; the second lacks conv_rate, which fails only while scanning.
    await db.run(`COPY (SELECT 1 AS driver_id, ${T("2024-01-01 10:00:00")} AS event_timestamp, 0.5 AS conv_rate) TO ${quoteLiteral(join(sub, "a.parquet"))}`);
    await db.run(`COPY (SELECT 1 AS driver_id, ${T("2024-01-01 10:00:00")} AS event_timestamp) TO ${quoteLiteral(join(sub, "b.parquet"))}`);
    const outDir = mkdtempSync(join(dir, "out-"));
    const out = join(outDir, "features.parquet");
    await getHistoricalFeatures({ ...request, out });
    const before = await read(out);
    const failing = { ...request, views: [{ ...spec, source: { ...spec.source, path: join(sub, "*.parquet") } }], out };
    await expect(getHistoricalFeatures(failing)).rejects.toThrow();
    expect(readdirSync(outDir)).toEqual(["features.parquet"]);
    expect(await read(out)).toEqual(before);
  });
});

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("randomized cross-check against a brute-force reference", () => {
  interface FeatureRow {
    key: number | null;
    ts: number;
    created: number | null;
    value: number;
  }
  interface EntityRow {
    id: number;
    key: number | null;
    ts: number | null;
  }

  const BASE = Date.UTC(2024, 0, 1);
  const random = prng(42);
  const int = (n: number) => Math.floor(random() * n);
  // Coarse timestamps (minutes over two days) make event and created timestamp ties common.
  const features: FeatureRow[] = Array.from({ length: 20_000 }, (_, i) => ({
    key: int(200) === 0 ? null : int(300),
    ts: BASE + int(2 * 24 * 60) * 60_000,
    created: int(10) === 0 ? null : BASE + int(2 * 24 * 60) * 60_000,
    value: i,
  }));
  const entities: EntityRow[] = Array.from({ length: 2_000 }, (_, id) => ({
    id,
    key: int(100) === 0 ? null : int(320),
    ts: int(100) === 0 ? null : BASE + int(2 * 24 * 60) * 60_000 + (int(2) === 0 ? 0 : 30_000),
  }));
  // Exact duplicates of earlier entity rows.
  for (let i = 0; i < 50; i++) {
    const e = entities[int(entities.length)] as EntityRow;
    entities.push({ ...e, id: entities.length });
  }

  function reference(ttlSeconds: number, filterCreated: boolean): (number | null)[] {
    const byKey = new Map<number, { row: FeatureRow; seq: number }[]>();
    features.forEach((row, seq) => {
      if (row.key === null) return;
      const list = byKey.get(row.key) ?? [];
      list.push({ row, seq });
      byKey.set(row.key, list);
    });
    return entities.map((e) => {
      if (e.key === null || e.ts === null) return null;
      let best: { row: FeatureRow; seq: number } | undefined;
      for (const c of byKey.get(e.key) ?? []) {
        if (c.row.ts > e.ts) continue;
        if (ttlSeconds > 0 && c.row.ts < e.ts - ttlSeconds * 1000) continue;
        if (filterCreated && c.row.created !== null && c.row.created > e.ts) continue;
        if (best === undefined) {
          best = c;
          continue;
        }
        const cr = c.row.created ?? -Infinity;
        const br = best.row.created ?? -Infinity;
        if (c.row.ts > best.row.ts || (c.row.ts === best.row.ts && (cr > br || (cr === br && c.seq > best.seq)))) best = c;
      }
      return best === undefined ? null : best.row.value;
    });
  }

  let sourcePath = "";
  let entityPath = "";
  beforeAll(async () => {
    const lit = (v: number | null) => (v === null ? "NULL" : String(v));
    const tsLit = (v: number | null) => (v === null ? "NULL" : `make_timestamp(${v * 1000})`);
    const f = features.map((r) => `(${lit(r.key)}, ${tsLit(r.ts)}, ${tsLit(r.created)}, ${r.value})`).join(",");
    sourcePath = await write(`SELECT * FROM (VALUES ${f}) t(driver_id, event_timestamp, created, value)`);
    const e = entities.map((r) => `(${r.id}, ${lit(r.key)}, ${tsLit(r.ts)})`).join(",");
    entityPath = await write(`SELECT * FROM (VALUES ${e}) t(id, driver_id, event_timestamp)`);
  });

  test.each([
    ["auto", 0, false],
    ["asof", 3600, false],
    ["window", 3600, false],
    ["asof", 0, false],
    ["asof-operator", 0, false],
    ["window", 7200, true],
    ["auto", 0, true],
    ["asof", 3600, true],
    ["asof-operator", 7200, true],
    ["window", 0, true],
  ] as const)("strategy %s, ttl %i s, filterByCreatedTimestamp %s", async (strategy, ttl, filterCreated) => {
    const spec: FeatureViewSpec = {
      name: "driver",
      joinKeys: ["driver_id"],
      source: { path: sourcePath, format: "parquet", timestampField: "event_timestamp", createdTimestampColumn: "created" },
      features: ["value"],
      ttlSeconds: ttl,
    };
    const { rows } = await run(
      {
        entities: { path: entityPath, format: "parquet" },
        views: [spec],
        features: ["driver:value"],
        filterByCreatedTimestamp: filterCreated,
      },
      strategy,
    );
    expect(rows.map((r) => r.id)).toEqual(entities.map((e) => e.id));
    const expected = reference(ttl, filterCreated);
    const actual = rows.map((r) => (r.value === null ? null : Number(r.value)));
    expect(actual.filter((v) => v !== null).length).toBeGreaterThan(entities.length / 4);
    expect(actual).toEqual(expected);
  });
});

describe("timing", () => {
  test("100k entity rows x 1M feature rows (printed, not asserted)", { timeout: 300_000 }, async () => {
    const source = await write(`SELECT range % 10000 AS driver_id,
        TIMESTAMP '2024-01-01' + to_seconds((hash(range) % 2592000)::BIGINT) AS event_timestamp,
        TIMESTAMP '2024-01-01' + to_seconds((hash(range * 31 + 7) % 2592000)::BIGINT) AS created,
        (hash(range * 17) % 1000) / 1000.0 AS conv_rate,
        range AS trips
      FROM range(1000000)`);
    const entities = await write(`SELECT (hash(range * 13) % 10000)::BIGINT AS driver_id,
        TIMESTAMP '2024-01-01' + to_seconds((hash(range * 11) % 2592000)::BIGINT) AS event_timestamp
      FROM range(100000)`);
    const spec: FeatureViewSpec = {
      name: "driver",
      joinKeys: ["driver_id"],
      source: { path: source, format: "parquet", timestampField: "event_timestamp", createdTimestampColumn: "created" },
      features: ["conv_rate", "trips"],
      ttlSeconds: 7 * 86_400,
    };
    const base = { entities: { path: entities, format: "parquet" as const }, views: [spec], features: ["driver:conv_rate", "driver:trips"] };
    const lines: string[] = [];
    for (const [strategy, filterCreated] of [["asof", false], ["asof", true], ["window", false], ["window", true]] as const) {
      const started = performance.now();
      const result = await getHistoricalFeatures({ ...base, filterByCreatedTimestamp: filterCreated, out: outPath() }, { strategy });
      const ms = performance.now() - started;
      expect(result.rows).toBe(100_000);
      lines.push(`${strategy}${filterCreated ? " + filterByCreatedTimestamp" : ""}: ${ms.toFixed(0)} ms`);
    }
    console.log(`historical retrieval, 100k entity rows x 1M feature rows:\n  ${lines.join("\n  ")}`);
  });
});

describe("packed ASOF keys", () => {
  /** Runs the request with packed keys (recording the SQL run, on DuckDB's ASOF operator), without them, and with the window strategy. */
  async function threeWays(request: Omit<HistoricalFeaturesRequest, "out">): Promise<{ packed: unknown[]; plain: unknown[]; window: unknown[]; sql: string[] }> {
    const sql: string[] = [];
    // DuckDB's ASOF operator itself (small probes would otherwise take a loop join, which happens to pick the last tied row).
    const spy = Object.create(asofOperatorDb) as OfflineDb;
    spy.run = (text: string) => {
      sql.push(text);
      return asofOperatorDb.run(text);
    };
    const answers: unknown[][] = [];
    for (const options of [{ db: spy }, { db, packedKeys: false }, { db, strategy: "window" as const }]) {
      const out = outPath();
      await getHistoricalFeatures({ ...request, out }, options);
      answers.push(await read(out));
    }
    const [packed = [], plain = [], window = []] = answers;
    return { packed, plain, window, sql };
  }

  const matchTables = (sql: string[]) => sql.filter((s) => s.startsWith("CREATE TEMP TABLE __fw_match_"));

  test("give the answers the tie fix and the window strategy give: ties on event and created timestamps, NULL created, created before the event, any grain", async () => {
    const fc = (await import("fast-check")).default;
    const micros = { s: 1_000_000, ms: 1_000, us: 1 } as const;
    let fitted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("s", "ms", "us"),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 12 }), fc.option(fc.integer({ min: -6, max: 6 }), { nil: null })), { minLength: 1, maxLength: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.option(fc.integer({ min: -2, max: 15 }), { nil: null })), { minLength: 1, maxLength: 20 }),
        fc.constantFrom(0, 3, 30),
        async (grain, rows, entityRows, ttlUnits) => {
          const g = micros[grain];
          const at = (units: number) => `make_timestamp(${1_700_000_000_000_000 + units * g}::BIGINT)`;
          const source = await write(
            `SELECT * FROM (VALUES ${rows.map(([k, t, c], i) => `(${k}, ${at(t)}, ${c === null ? "NULL::TIMESTAMP" : at(t + c)}, ${i})`).join(", ")}) AS s(driver_id, event_timestamp, created, conv_rate)`,
          );
          const entities = await write(
            `SELECT * FROM (VALUES ${entityRows.map(([k, t], i) => `(${k}, ${t === null ? "NULL::TIMESTAMP" : at(t)}, ${i})`).join(", ")}) AS e(driver_id, event_timestamp, n)`,
          );
          const { packed, plain, window, sql } = await threeWays({
            entities: { path: entities, format: "parquet" },
            views: [view("v", source, { ttlSeconds: (ttlUnits * g) / 1e6 })],
            features: ["v:conv_rate"],
          });
          expect(packed).toEqual(plain);
          expect(packed).toEqual(window);
          // The packed join ran first; it fits unless the created timestamps are finer than the event times' grain.
          expect(matchTables(sql)[0]).toContain("__fw_packing_miss");
          if (matchTables(sql).length === 1) fitted++;
        },
      ),
      { numRuns: 40 },
    );
    expect(fitted).toBeGreaterThan(20);
  });

  test("an event time finer than the first rows' (past the rows read to guess the grain) falls back to the tie fix, with the same answers", async () => {
    // 200,000 rows in whole seconds (the range's ends too), one at half a second past the first 100,000.
    const source = await write(`SELECT range % 50 AS driver_id,
        TIMESTAMP '2024-01-01' + to_seconds(range // 50) + CASE WHEN range = 150010 THEN INTERVAL 500 MILLISECOND ELSE INTERVAL 0 SECOND END AS event_timestamp,
        TIMESTAMP '2024-01-01' + to_seconds(range // 50 + range % 3) AS created,
        range / 1000.0 AS conv_rate
      FROM range(200000)`);
    const entities = await write(`SELECT (range * 7) % 50 AS driver_id, TIMESTAMP '2024-01-01' + to_seconds(range * 11 % 4000) + INTERVAL 700 MILLISECOND AS event_timestamp FROM range(300)`);
    const { packed, plain, window, sql } = await threeWays({ entities: { path: entities, format: "parquet" }, views: [view("v", source, { ttlSeconds: 60 })], features: ["v:conv_rate"] });
    expect(packed).toEqual(plain);
    expect(packed).toEqual(window);
    expect(packed.filter((r) => (r as { conv_rate: unknown }).conv_rate !== null).length).toBeGreaterThan(250);
    const tables = matchTables(sql);
    expect(tables).toHaveLength(2);
    expect(tables[0]).toContain("__fw_packing_miss");
  });

  test("the packed key orders rows by event time, then created time (NULL first), then position; a row that does not fit raises PACKING_MISS", async () => {
    const v: PackableView = {
      alias: "v",
      spec: { source: { path: "x.parquet", format: "parquet", timestampField: "t" } },
      createdColumn: "c",
      strategy: "asof",
      filterCreated: false,
      rowOrder: "file",
    };
    const t0 = 1_700_000_000_000_000n;
    const packing = packingFor(v, t0, t0 + 10_000_000n, 100n, 1_000_000n) as Packing;
    expect(packing).toBeDefined();
    const keyOf = async (rows: [number, number | null, number][]) => {
      const micros = (seconds: number) => t0 + BigInt(Math.round(seconds * 1e6));
      const values = rows.map(([t, c, pos], i) => `(${i}, ${micros(t)}, ${c === null ? "NULL::BIGINT" : micros(t + c)}, ${pos})`);
      const sql =
        `SELECT ${packedKeySql(v, packing)} AS pk FROM (SELECT *, ${packedGrainsSql(v, packing).join(", ")} ` +
        `FROM (VALUES ${values.join(", ")}) AS r(i, ts, cr, pr)) ORDER BY i`;
      return (await db.query(sql)).map((r) => r.pk as bigint);
    };
    // (event seconds, created offset in seconds or NULL, position), in the order Feast ranks them.
    const ranked: [number, number | null, number][] = [[0, null, 5], [0, -3, 0], [0, -3, 1], [0, 0, 0], [0, 2, 99], [1, null, 0], [1, 0, 3], [10, -1, 0]];
    const keys = await keyOf(ranked);
    for (let i = 1; i < keys.length; i++) expect(keys[i] as bigint).toBeGreaterThan(keys[i - 1] as bigint);
    await expect(keyOf([[0, 0.5, 0]])).rejects.toThrow(/__fw_packing_miss/);
  });

  test("a created timestamp that does not fit the packing (finer than the event times, or too far off) falls back to the tie fix, with the same answers", async () => {
    // Event times in whole seconds with a created time half a second in; then event times in
    // microseconds (so 10 s take 24 bits) with a created time 300 years after its event.
    for (const [t0, t5, t10, created] of [
      ["2024-01-01 00:00:00", "2024-01-01 00:00:05", "2024-01-01 00:00:10", "2024-01-01 00:00:06.5"],
      ["2024-01-01 00:00:00.000001", "2024-01-01 00:00:05.000001", "2024-01-01 00:00:10.000001", "2324-01-01 00:00:00"],
    ]) {
      const source = await write(`SELECT * FROM (VALUES
          (1, TIMESTAMP '${t0}', TIMESTAMP '${t0}', 0.1),
          (1, TIMESTAMP '${t5}', TIMESTAMP '${created}', 0.2),
          (1, TIMESTAMP '${t5}', TIMESTAMP '${t5}', 0.3),
          (1, TIMESTAMP '${t10}', TIMESTAMP '${t10}', 0.4)) AS s(driver_id, event_timestamp, created, conv_rate)`);
      const entities = await write(`SELECT 1 AS driver_id, TIMESTAMP '2024-01-01 00:00:07' AS event_timestamp`);
      const { packed, plain, window, sql } = await threeWays({ entities: { path: entities, format: "parquet" }, views: [view("v", source)], features: ["v:conv_rate"] });
      // The tie at 5 s goes to the later created timestamp.
      expect(packed).toEqual([{ driver_id: 1, event_timestamp: ts("2024-01-01T00:00:07"), conv_rate: 0.2 }]);
      expect(packed).toEqual(plain);
      expect(packed).toEqual(window);
      const tables = matchTables(sql);
      expect(tables).toHaveLength(2);
      expect(tables[0]).toContain("__fw_packing_miss");
      expect(tables[1]).not.toContain("__fw_packing_miss");
    }
  });
});
