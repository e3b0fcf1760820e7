/**
 * A Kysely dialect for better-sqlite3 that keeps prepared statements in a bounded cache:
 * SQLite has one connection, so the hot queries (metric inserts, run reads) are prepared once.
 */
import type BetterSqlite3 from "better-sqlite3";
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from "kysely";

const CACHE_SIZE = 256;

class StatementCache {
  private readonly map = new Map<string, BetterSqlite3.Statement>();
  constructor(private readonly db: BetterSqlite3.Database) {}

  get(sql: string): BetterSqlite3.Statement {
    let stmt = this.map.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      if (this.map.size >= CACHE_SIZE) {
        const oldest = this.map.keys().next().value;
        if (oldest !== undefined) this.map.delete(oldest);
      }
      this.map.set(sql, stmt);
    }
    return stmt;
  }
}

class CachedSqliteConnection implements DatabaseConnection {
  constructor(private readonly cache: StatementCache) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.cache.get(query.sql);
    const params = query.parameters as unknown[];
    if (stmt.reader) return Promise.resolve({ rows: stmt.all(params) as R[] });
    const { changes, lastInsertRowid } = stmt.run(params);
    return Promise.resolve({
      rows: [],
      numAffectedRows: BigInt(changes),
      insertId: BigInt(lastInsertRowid),
    });
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("streamQuery is not used by the metadata store");
  }
}

/** Serializes access to the single connection, as SQLite allows one writer at a time. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private release: (() => void) | undefined;

  async lock(): Promise<void> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    this.release = release;
  }

  unlock(): void {
    const r = this.release;
    this.release = undefined;
    r?.();
  }
}

class CachedSqliteDriver implements Driver {
  private readonly mutex = new Mutex();
  private readonly connection: CachedSqliteConnection;

  constructor(private readonly db: BetterSqlite3.Database) {
    this.connection = new CachedSqliteConnection(new StatementCache(db));
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.mutex.lock();
    return this.connection;
  }

  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    // IMMEDIATE takes the write lock up front, so two writers never deadlock on an upgrade.
    await conn.executeQuery(CompiledQuery.raw("begin immediate"));
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw("rollback"));
  }

  async releaseConnection(): Promise<void> {
    this.mutex.unlock();
  }

  async destroy(): Promise<void> {
    this.db.close();
  }
}

export class CachedSqliteDialect implements Dialect {
  constructor(private readonly db: BetterSqlite3.Database) {}
  createAdapter() {
    return new SqliteAdapter();
  }
  createDriver(): Driver {
    return new CachedSqliteDriver(this.db);
  }
  createQueryCompiler() {
    return new SqliteQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>) {
    return new SqliteIntrospector(db);
  }
}
