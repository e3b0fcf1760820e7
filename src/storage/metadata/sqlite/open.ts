/** Opens the SQLite metadata database (WAL) behind the Kysely store. */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type { Database } from "../schema.js";
import { CachedSqliteDialect } from "./dialect.js";

/**
 * Path of a `sqlite:` URI, read as SQLAlchemy (and so MLflow) reads it: `sqlite:///rel.db` is
 * relative to the working directory, `sqlite:////abs/x.db` is absolute, `sqlite://:memory:`
 * (or `sqlite:///:memory:`) is in memory.
 */
export function sqlitePathOf(uri: string): string {
  const m = /^sqlite:(?:\/\/\/?)?(.*)$/i.exec(uri);
  const rest = m?.[1] ?? "";
  if (rest === "" ) {
    throw new FlywheelError("FW_STORAGE_UNSUPPORTED_URI", `SQLite URI '${uri}' names no file (use sqlite:///relative.db or sqlite:////absolute/path.db)`);
  }
  if (rest === ":memory:") return rest;
  return resolve(decodeURIComponent(rest.split("?")[0] ?? rest));
}

export function openSqlite(uri: string): Kysely<Database> {
  const path = sqlitePathOf(uri);
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  let db: BetterSqlite3.Database;
  try {
    db = new BetterSqlite3(path);
  } catch (e) {
    throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Cannot open SQLite database '${path}': ${(e as Error).message}`, { cause: e });
  }
  db.pragma("journal_mode = WAL");
  // NORMAL in WAL mode loses nothing when the process dies; only a power cut can drop the last commits.
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  // MLflow's LIKE is case-sensitive (ILIKE is the insensitive one); SQLite's default is not.
  db.pragma("case_sensitive_like = ON");
  return new Kysely<Database>({ dialect: new CachedSqliteDialect(db) });
}
