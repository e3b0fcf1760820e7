/**
 * A small wrapper around an in-process DuckDB (`@duckdb/node-api`) for the offline store: open a
 * database with a fixed, network-free configuration, run SQL, and quote the identifiers and
 * string literals that come from users (paths, column names) so they can be spliced into SQL.
 *
 * Only the extensions statically linked into the binding are used (Parquet, JSON, ICU); automatic
 * install and load of other extensions is switched off, so nothing is fetched at run time.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection, type DuckDBResult } from "@duckdb/node-api";
import { FlywheelError } from "../../core/errors.js";

export interface OfflineDbOptions {
  /** Worker threads DuckDB may use; DuckDB's default (all cores) when omitted. */
  threads?: number;
  /** e.g. "4GB"; DuckDB's default (80% of RAM) when omitted. */
  memoryLimit?: string;
  /** Where DuckDB spills intermediate results that do not fit in memory. */
  tempDirectory?: string;
  /**
   * Keep the order of rows from scan to result where SQL does not fix it; default true. False
   * lets a COPY bound its row groups by bytes (`ROW_GROUP_SIZE_BYTES`).
   */
  preserveInsertionOrder?: boolean;
}

export interface ColumnInfo {
  name: string;
  /** DuckDB's type name, e.g. `BIGINT`, `VARCHAR`, `TIMESTAMP WITH TIME ZONE`. */
  type: string;
}

export type FileFormat = "parquet" | "csv";

/** Double-quotes an identifier for DuckDB SQL (embedded quotes are doubled). */
export function quoteIdentifier(name: string): string {
  rejectNul(name, "identifier");
  return `"${name.replaceAll('"', '""')}"`;
}

/** Single-quotes a string literal for DuckDB SQL (embedded quotes are doubled; no escapes apply). */
export function quoteLiteral(value: string): string {
  rejectNul(value, "string literal");
  return `'${value.replaceAll("'", "''")}'`;
}

function rejectNul(value: string, what: string): void {
  if (value.includes("\u0000")) {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `A ${what} may not contain a NUL character`);
  }
}

/**
 * The table function that reads a file (or glob) in the given format. CSV files must have a
 * header line; column types are detected by DuckDB's sniffer.
 */
export function readFileSql(path: string, format: FileFormat): string {
  switch (format) {
    case "parquet":
      return `read_parquet(${quoteLiteral(path)})`;
    case "csv":
      return `read_csv(${quoteLiteral(path)}, header = true, auto_detect = true)`;
  }
}

/** One in-process DuckDB database (in memory) with one connection, session time zone UTC. */
export class OfflineDb {
  private closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(options: OfflineDbOptions = {}): Promise<OfflineDb> {
    const config: Record<string, string> = {
      autoinstall_known_extensions: "false",
      autoload_known_extensions: "false",
      allow_community_extensions: "false",
      preserve_insertion_order: String(options.preserveInsertionOrder ?? true),
      temp_directory: options.tempDirectory ?? join(tmpdir(), "flywheel-duckdb"),
    };
    if (options.threads !== undefined) {
      if (!Number.isInteger(options.threads) || options.threads < 1) {
        throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "threads must be a positive integer");
      }
      config.threads = String(options.threads);
    }
    if (options.memoryLimit !== undefined) config.memory_limit = options.memoryLimit;
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(":memory:", config);
    } catch (e) {
      throw wrap(e, "opening DuckDB");
    }
    const connection = await instance.connect();
    const db = new OfflineDb(instance, connection);
    await db.run("SET TimeZone = 'UTC'");
    return db;
  }

  /** Runs one or more statements; returns the rows changed by the last one (COPY: rows written). */
  async run(sql: string): Promise<number> {
    this.assertOpen();
    try {
      const result = await this.connection.run(sql);
      return result.rowsChanged;
    } catch (e) {
      throw wrap(e, "running SQL");
    }
  }

  /** Runs a query and returns its rows as plain JS objects (BIGINT as bigint, timestamps as Date). */
  async query(sql: string): Promise<Record<string, unknown>[]> {
    this.assertOpen();
    try {
      const reader = await this.connection.runAndReadAll(sql);
      return reader.getRowObjectsJS() as Record<string, unknown>[];
    } catch (e) {
      throw wrap(e, "running SQL");
    }
  }

  /**
   * Streams a query's rows as plain JS objects, one DuckDB chunk (at most 2048 rows) at a time,
   * so a large result is never held in memory at once.
   */
  async *streamObjects(sql: string): AsyncGenerator<Record<string, unknown>[]> {
    this.assertOpen();
    let result;
    try {
      result = await this.connection.stream(sql);
    } catch (e) {
      throw wrap(e, "running SQL");
    }
    try {
      for await (const rows of result.yieldRowObjectJs()) yield rows as Record<string, unknown>[];
    } catch (e) {
      throw wrap(e, "reading a result");
    }
  }

  /** The columns (name and DuckDB type) a relation would produce, without reading its rows. */
  async describe(relationSql: string): Promise<ColumnInfo[]> {
    const rows = await this.query(`DESCRIBE SELECT * FROM ${relationSql}`);
    return rows.map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
  }

  /**
   * Starts a query whose result is read chunk by chunk (at most 2048 rows each) as the caller
   * pulls, so a result larger than memory is never materialized.
   */
  async stream(sql: string): Promise<StreamedResult> {
    this.assertOpen();
    let result: DuckDBResult;
    try {
      result = await this.connection.stream(sql);
    } catch (e) {
      throw wrap(e, "running SQL");
    }
    return {
      columnNames: result.columnNames(),
      next: async () => {
        try {
          const chunk = await result.fetchChunk();
          return chunk === null || chunk.rowCount === 0 ? null : chunk;
        } catch (e) {
          throw wrap(e, "reading a result");
        }
      },
    };
  }

  /** An appender that writes rows into an existing table (flushed by `closeSync`). */
  async appender(table: string): Promise<DuckDBAppender> {
    this.assertOpen();
    try {
      return await this.connection.createAppender(table);
    } catch (e) {
      throw wrap(e, `opening an appender on ${table}`);
    }
  }

  /**
   * How far the running query is, from 0 to 100, or undefined when DuckDB cannot tell. Only
   * tracked after `SET enable_progress_bar = true` (with `enable_progress_bar_print = false`).
   */
  progress(): number | undefined {
    if (this.closed) return undefined;
    const p = this.connection.progress.percentage;
    return Number.isFinite(p) && p >= 0 ? p : undefined;
  }

  /** Asks the running query to stop; it then fails with DuckDB's "Interrupted" error. */
  interrupt(): void {
    if (!this.closed) this.connection.interrupt();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private assertOpen(): void {
    if (this.closed) throw new FlywheelError("FW_INTERNAL", "The DuckDB database is closed");
  }
}

/** Up to 2048 rows of a result, read column by column (`getItem` answers null for SQL NULL). */
export interface ResultChunk {
  readonly rowCount: number;
  getColumnVector(column: number): { getItem(row: number): unknown };
}

/** A query result read one chunk at a time; `next` answers null at the end. */
export interface StreamedResult {
  columnNames: string[];
  next(): Promise<ResultChunk | null>;
}

/** DuckDB's own message, kept as the cause. */
export function duckdbMessage(e: unknown): string {
  if (e instanceof FlywheelError && e.cause instanceof Error) return e.cause.message;
  return e instanceof Error ? e.message : String(e);
}

function wrap(e: unknown, doing: string): FlywheelError {
  if (e instanceof FlywheelError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new FlywheelError("FW_INTERNAL", `DuckDB failed ${doing}: ${message}`, { cause: e });
}
