/**
 * Column types of log records read from NDJSON segments, found in bounded memory: DuckDB lists
 * the distinct per-record structures (a handful per model and hour, spilled to disk if there are
 * more), and they are merged here one at a time.
 *
 * DuckDB's `json_group_structure(json)` is not used: it is a macro for
 * `json_structure(json_group_array(json))`, which builds the whole group as one JSON string and
 * parses it again, so its memory grows with the segment (a 66 MB segment of 200k records failed
 * with Out of Memory under a 512 MB limit).
 *
 * Types, as `json_transform` takes them: numbers as DOUBLE, lists as [inner type], strings as
 * VARCHAR, booleans as BOOLEAN, objects and anything mixed as JSON; a column that is null
 * throughout is left out. This is the merge DuckDB's `json_structure` does, with every integer
 * type read as DOUBLE.
 */
import { type OfflineDb, quoteLiteral } from "../../storage/offline/duckdb.js";

/** DuckDB types by column, as `json_transform` takes them. */
export type Structure = Record<string, unknown>;

/** A column's type while records are merged: NULL (nothing seen yet) gives way to anything, a clash is JSON. */
export type Kind = "NULL" | "BOOLEAN" | "VARCHAR" | "DOUBLE" | "JSON" | readonly [Kind];

function kindOf(type: unknown): Kind {
  if (Array.isArray(type)) return [kindOf(type[0])];
  switch (type) {
    case "NULL":
    case "BOOLEAN":
    case "VARCHAR":
    case "DOUBLE":
      return type;
    case "UBIGINT":
    case "BIGINT":
    case "HUGEINT":
    case "UHUGEINT":
      return "DOUBLE";
    default:
      return "JSON";
  }
}

function merge(a: Kind, b: Kind): Kind {
  if (a === "NULL") return b;
  if (b === "NULL") return a;
  if (Array.isArray(a) && Array.isArray(b)) return [merge(a[0] as Kind, b[0] as Kind)];
  return a === b ? a : "JSON";
}

/** The `json_transform` type of a merged column; undefined when it never held a value. */
function columnType(kind: Kind): unknown {
  if (kind === "NULL") return undefined;
  if (typeof kind === "string") return kind;
  const inner = columnType(kind[0]);
  return inner === undefined ? undefined : [inner];
}

/** The merged structure of some records: types by column, or "JSON" once a record was not an object. */
export class Merged {
  private readonly columns = new Map<string, Kind>();
  private notObject = false;

  /** Adds the kinds of some records' columns, as the log's encoder noted them (see log-plan.ts). */
  addKinds(kinds: Readonly<Record<string, Kind>>): void {
    for (const key in kinds) this.columns.set(key, merge(this.columns.get(key) ?? "NULL", kinds[key] as Kind));
  }

  add(structure: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(structure);
    } catch {
      parsed = "JSON";
    }
    if (parsed === "NULL") return;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      this.notObject = true;
      return;
    }
    for (const [key, type] of Object.entries(parsed)) {
      const before = this.columns.get(key) ?? "NULL";
      this.columns.set(key, merge(before, kindOf(type)));
    }
  }

  /** The structure to read the records with: `fixed` types for their columns, merged types for the rest. */
  structure(fixed: Readonly<Record<string, string>>): Structure {
    const out: Structure = { ...fixed };
    if (this.notObject) return out;
    for (const [key, kind] of this.columns) {
      if (key in fixed) continue;
      const t = columnType(kind);
      if (t !== undefined) out[key] = t;
    }
    return out;
  }
}

/**
 * A record's structure as DuckDB's `json_structure` prints it, with integer types written as
 * DOUBLE, so records that differ only in whether a number had a fraction or a sign count once.
 * Only type names follow `:"` or `["` (quotes inside keys are escaped), so no key is rewritten.
 */
const RECORD_STRUCTURE = `regexp_replace(json_structure(json)::VARCHAR, ${quoteLiteral('([:\\[])"U?(BIGINT|HUGEINT)"')}, ${quoteLiteral('\\1"DOUBLE"')}, 'g')`;

export interface StructureGroup {
  /** The values of the `groupBy` expressions. */
  key: unknown[];
  structure: Structure;
}

export interface StructureQuery {
  /** SQL expressions over `json` that the records are grouped by, e.g. `(json->>'model')`. */
  groupBy: readonly string[];
  /** Only the records this SQL condition holds for. */
  where?: string;
  /** Columns with a fixed type. */
  fixed: Readonly<Record<string, string>>;
  /** Types come only from `fixed` (other fields are dropped): only the groups are listed. */
  fixedOnly?: boolean;
}

/**
 * The groups of the records of `source` (a `read_json_objects` call) and the structure to read
 * each with, ordered by key.
 * @example await groupStructures(db, segmentSource([path]), { groupBy: ["(json->>'model')"], fixed: CORE_COLUMNS })
 */
export async function groupStructures(db: OfflineDb, source: string, q: StructureQuery): Promise<StructureGroup[]> {
  const keys = q.groupBy.map((e, i) => `${e} AS k${i}`);
  const columns = q.fixedOnly === true ? keys : [...keys, `${RECORD_STRUCTURE} AS s`];
  if (columns.length === 0) columns.push("NULL AS s");
  // Ordered, structures too, so a segment rolled twice gets its columns in the same order.
  const sql = `SELECT * FROM (SELECT ${columns.join(", ")} FROM ${source} WHERE json IS NOT NULL AND (${q.where ?? "true"}) GROUP BY ALL) ORDER BY ALL`;
  const groups = new Map<string, { key: unknown[]; merged: Merged }>();
  for await (const rows of db.streamObjects(sql)) {
    for (const row of rows) {
      const key = q.groupBy.map((_, i) => row[`k${i}`]);
      const id = JSON.stringify(key, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
      let g = groups.get(id);
      if (g === undefined) {
        g = { key, merged: new Merged() };
        groups.set(id, g);
      }
      if (typeof row.s === "string") g.merged.add(row.s);
    }
  }
  return [...groups.values()].map((g) => ({ key: g.key, structure: g.merged.structure(q.fixed) }));
}
