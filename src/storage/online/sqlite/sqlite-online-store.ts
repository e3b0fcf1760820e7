/**
 * SQLite online store: one WAL database, one table keyed by (project, view, entity key), each row
 * holding the view's feature values as one JSON object. Newer-wins is decided in the upsert itself.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { FlywheelError } from "../../../core/errors.js";
import { sqlitePathOf } from "../../metadata/sqlite/open.js";
import type {
  EntityKey,
  OnlineEntityResult,
  OnlineReadOptions,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteRow,
} from "../online-store.js";
import { checkName } from "../names.js";
import { entityResult, maxAgeCutoff, prepareRead, prepareWrite, type PreparedRow } from "../prepare.js";
import { decodeRow, encodeRow } from "../value-codec.js";

const SCHEMA = `
create table if not exists online_rows (
  project    text not null,
  view       text not null,
  entity_key text not null,
  event_ts   real not null,
  created_ts real not null,
  vals       text not null,
  primary key (project, view, entity_key)
) without rowid`;

// The WHERE on DO UPDATE keeps the stored row unless the incoming one is strictly newer, which
// also makes an exact re-write a no-op.
const UPSERT = `
insert into online_rows (project, view, entity_key, event_ts, created_ts, vals) values (?, ?, ?, ?, ?, ?)
on conflict (project, view, entity_key) do update set
  event_ts = excluded.event_ts, created_ts = excluded.created_ts, vals = excluded.vals
where excluded.event_ts > online_rows.event_ts
   or (excluded.event_ts = online_rows.event_ts and excluded.created_ts > online_rows.created_ts)`;

// One statement for any number of entities: the keys travel as one JSON array.
const SELECT = `
select entity_key, event_ts, vals from online_rows
where project = ? and view = ? and entity_key in (select value from json_each(?))`;

const DELETE_VIEW = `delete from online_rows where project = ? and view = ?`;

interface StoredRow {
  entity_key: string;
  event_ts: number;
  vals: string;
}

export class SqliteOnlineStore implements OnlineStore {
  readonly scheme = "sqlite";
  readonly capabilities: OnlineStoreCapabilities = {
    sharedAcrossHosts: false,
    atomicBatchWrites: true,
    shardsByEntity: false,
  };

  private readonly upsert: BetterSqlite3.Statement<[string, string, string, number, number, string]>;
  private readonly select: BetterSqlite3.Statement<[string, string, string], StoredRow>;
  private readonly deleteStmt: BetterSqlite3.Statement<[string, string]>;
  private readonly writeBatch: (view: string, rows: readonly PreparedRow[]) => void;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly project: string,
  ) {
    db.exec(SCHEMA);
    this.upsert = db.prepare(UPSERT);
    this.select = db.prepare(SELECT);
    this.deleteStmt = db.prepare(DELETE_VIEW);
    this.writeBatch = db.transaction((view: string, rows: readonly PreparedRow[]) => {
      for (const r of rows) {
        this.upsert.run(this.project, view, r.key, r.eventTs, r.createdTs, encodeRow(r.values, `'${r.key}'`));
      }
    });
  }

  /** Opens (creating if needed) the database a `sqlite:` URI names. */
  static open(uri: string, project: string): SqliteOnlineStore {
    checkName(project, "project");
    const path = sqlitePathOf(uri);
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    let db: BetterSqlite3.Database;
    try {
      db = new BetterSqlite3(path);
      db.pragma("journal_mode = WAL");
      // NORMAL in WAL mode loses nothing when the process dies; only a power cut can drop the last commits.
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 5000");
    } catch (e) {
      throw new FlywheelError(
        "FW_STORAGE_UNAVAILABLE",
        `Cannot open SQLite online store '${path}': ${(e as Error).message}`,
        { cause: e },
      );
    }
    return new SqliteOnlineStore(db, project);
  }

  async write(view: string, rows: readonly OnlineWriteRow[]): Promise<void> {
    const prepared = prepareWrite(view, rows);
    if (prepared.length > 0) this.writeBatch(view, prepared);
  }

  async read(
    view: string,
    entityKeys: readonly EntityKey[],
    features: readonly string[],
    options?: OnlineReadOptions,
  ): Promise<OnlineEntityResult[]> {
    const keys = prepareRead(view, entityKeys, features);
    const cutoff = maxAgeCutoff(options);
    const found = new Map<string, StoredRow>();
    if (keys.length > 0) {
      for (const row of this.select.all(this.project, view, JSON.stringify(keys))) found.set(row.entity_key, row);
    }
    return keys.map((key) => {
      const row = found.get(key);
      if (row === undefined) return entityResult(undefined, features, cutoff);
      const values = decodeRow(row.vals);
      return entityResult({ eventTs: row.event_ts, get: (f) => values.get(f) }, features, cutoff);
    });
  }

  async deleteView(view: string): Promise<void> {
    checkName(view, "feature view");
    this.deleteStmt.run(this.project, view);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
