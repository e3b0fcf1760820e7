import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FlywheelError } from "../../core/errors.js";
import { OfflineDb, quoteIdentifier, quoteLiteral, readFileSql } from "./duckdb.js";

let db: OfflineDb;
beforeAll(async () => {
  db = await OfflineDb.open({ threads: 1 });
});
afterAll(() => db.close());

describe("OfflineDb", () => {
  test("quoting round-trips hostile identifiers and literals", async () => {
    const name = `a "b" 'c'; DROP TABLE t; --`;
    const value = `it's "quoted" \\ backslash; -- comment`;
    const rows = await db.query(`SELECT ${quoteLiteral(value)} AS ${quoteIdentifier(name)}`);
    expect(rows).toEqual([{ [name]: value }]);
    expect(() => quoteIdentifier("a\u0000b")).toThrow(FlywheelError);
    expect(() => quoteLiteral("a\u0000b")).toThrow(FlywheelError);
    expect(readFileSql("x'y.csv", "csv")).toBe("read_csv('x''y.csv', header = true, auto_detect = true)");
  });

  test("the session is UTC, only built-in extensions are used, and extensions are not auto-installed", async () => {
    const [settings] = await db.query(
      "SELECT current_setting('TimeZone') AS tz, current_setting('autoinstall_known_extensions') AS install, " +
        "current_setting('autoload_known_extensions') AS autoload",
    );
    expect(settings).toEqual({ tz: "UTC", install: false, autoload: false });
    const loaded = await db.query("SELECT extension_name FROM duckdb_extensions() WHERE loaded ORDER BY 1");
    expect(loaded.map((r) => r.extension_name)).toEqual(expect.arrayContaining(["icu", "json", "parquet"]));
    const [naive] = await db.query("SELECT CAST(TIMESTAMP '2024-01-01 10:00:00' AS TIMESTAMPTZ) AS t");
    expect(naive?.t).toEqual(new Date("2024-01-01T10:00:00Z"));
  });

  test("describe lists columns without reading rows; errors keep DuckDB's message; close is final", async () => {
    expect(await db.describe("(SELECT 1::BIGINT AS a, 'x' AS b)")).toEqual([
      { name: "a", type: "BIGINT" },
      { name: "b", type: "VARCHAR" },
    ]);
    await expect(db.query("SELECT * FROM no_such_table")).rejects.toThrow(/no_such_table/);
    const other = await OfflineDb.open();
    other.close();
    other.close();
    await expect(other.query("SELECT 1")).rejects.toThrow(/closed/);
  });
});
