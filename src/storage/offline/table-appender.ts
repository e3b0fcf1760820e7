/**
 * Rows written into a DuckDB table column by column through DuckDB's appender, in data chunks of
 * at most 2048 rows (DuckDB's vector size), so JavaScript never builds row objects.
 */
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBDataChunk,
  FLOAT,
  INTEGER,
  SMALLINT,
  TINYINT,
  UBIGINT,
  UINTEGER,
  USMALLINT,
  UTINYINT,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBType,
} from "@duckdb/node-api";
import { FlywheelError } from "../../core/errors.js";
import { quoteIdentifier, type OfflineDb } from "./duckdb.js";

/** The column types a TableAppender writes. */
export type AppendableType =
  | "BOOLEAN"
  | "TINYINT"
  | "SMALLINT"
  | "INTEGER"
  | "BIGINT"
  | "UTINYINT"
  | "USMALLINT"
  | "UINTEGER"
  | "UBIGINT"
  | "FLOAT"
  | "DOUBLE"
  | "VARCHAR";

const TYPES: Readonly<Record<AppendableType, DuckDBType>> = {
  BOOLEAN,
  TINYINT,
  SMALLINT,
  INTEGER,
  BIGINT,
  UTINYINT,
  USMALLINT,
  UINTEGER,
  UBIGINT,
  FLOAT,
  DOUBLE,
  VARCHAR,
};

/** DuckDB's vector size: the most rows one data chunk holds. */
export const CHUNK_ROWS = 2048;

export interface AppendColumn {
  name: string;
  type: AppendableType;
}

/**
 * The value of one column in row `row` of a batch: boolean for BOOLEAN, bigint for (U)BIGINT,
 * string for VARCHAR, number otherwise; null is SQL NULL.
 */
export type ColumnValues = (row: number) => boolean | number | bigint | string | null;

export function isAppendableType(type: string): type is AppendableType {
  return Object.hasOwn(TYPES, type);
}

export class TableAppender {
  private closed = false;

  private constructor(
    private readonly appender: DuckDBAppender,
    private readonly types: DuckDBType[],
  ) {}

  /** Creates (or replaces) `table` with `columns` and opens an appender on it. */
  static async create(db: OfflineDb, table: string, columns: readonly AppendColumn[]): Promise<TableAppender> {
    if (columns.length === 0) throw new FlywheelError("FW_INTERNAL", `Table ${table} needs at least one column`);
    const defs = columns.map((c) => `${quoteIdentifier(c.name)} ${c.type}`).join(", ");
    await db.run(`CREATE OR REPLACE TABLE ${quoteIdentifier(table)} (${defs})`);
    return new TableAppender(await db.appender(table), columns.map((c) => TYPES[c.type]));
  }

  /** Appends `rows` rows; column `c` of row `i` is `columns[c](i)`. */
  append(rows: number, columns: readonly ColumnValues[]): void {
    if (this.closed) throw new FlywheelError("FW_INTERNAL", "The appender is closed");
    if (columns.length !== this.types.length) {
      throw new FlywheelError("FW_INTERNAL", `Expected ${this.types.length} columns, got ${columns.length}`);
    }
    for (let start = 0; start < rows; start += CHUNK_ROWS) {
      const count = Math.min(CHUNK_ROWS, rows - start);
      const chunk = DuckDBDataChunk.create(this.types, count);
      columns.forEach((values, c) => {
        const vector = chunk.getColumnVector(c);
        for (let i = 0; i < count; i++) vector.setItem(i, values(start + i) as never);
        vector.flush();
      });
      this.appender.appendDataChunk(chunk);
    }
  }

  /** Flushes what was appended into the table and closes the appender. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.appender.closeSync();
  }
}
