/** Opens the PostgreSQL metadata database behind the Kysely store. */
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { FlywheelError } from "../../../core/errors.js";
import type { Database } from "../schema.js";

const INT8_OID = 20;

/**
 * Opens a pool for a `postgresql://` URI. A `schema` query parameter selects (and creates) a
 * schema, so several Flywheel instances or test suites can share one database.
 */
export async function openPostgres(uri: string): Promise<Kysely<Database>> {
  const url = new URL(uri.replace(/^postgres:/i, "postgresql:"));
  const schema = url.searchParams.get("schema");
  url.searchParams.delete("schema");
  if (schema !== null && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new FlywheelError("FW_STORAGE_UNSUPPORTED_URI", `Invalid schema '${schema}' in PostgreSQL URI: use letters, digits and _`);
  }
  const connectionString = url.toString();
  // Timestamps are int64 milliseconds, well inside the exact range of a double.
  const types = {
    getTypeParser: ((oid: number, format?: "text" | "binary") =>
      oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  };
  if (schema !== null) {
    const client = new pg.Client({ connectionString });
    try {
      await client.connect();
      await client.query(`create schema if not exists "${schema}"`);
    } catch (e) {
      throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Cannot reach PostgreSQL at ${url.host}: ${(e as Error).message}`, { cause: e });
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    types,
    ...(schema !== null ? { options: `-c search_path="${schema}"` } : {}),
  });
  pool.on("error", () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
