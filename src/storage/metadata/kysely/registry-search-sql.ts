/** SQL fragments for searching registered models (alias `m`) and model versions (alias `v`). */
import { sql, type RawBuilder } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type { Comparison, OrderByClause } from "../search-types.js";
import { compareSql } from "./search-sql.js";

type Fragment = RawBuilder<unknown>;

const MODEL_ATTRIBUTES: Record<string, string> = {
  name: "m.name",
  creation_timestamp: "m.creation_time",
  last_updated_timestamp: "m.last_updated_time",
  description: "m.description",
};

const VERSION_ATTRIBUTES: Record<string, string> = {
  name: "m.name",
  version_number: "v.version",
  run_id: "v.run_id",
  source_path: "v.source",
  current_stage: "v.current_stage",
  status: "v.status",
  creation_timestamp: "v.creation_time",
  last_updated_timestamp: "v.last_updated_time",
  user_id: "v.user_id",
};

function invalid(message: string): FlywheelError {
  return new FlywheelError("FW_SEARCH_INVALID_FILTER", message);
}

function attribute(map: Record<string, string>, key: string, what: string): string {
  const col = map[key];
  if (col === undefined) throw invalid(`Invalid ${what} attribute '${key}': expected one of ${Object.keys(map).join(", ")}`);
  return col;
}

function tagExists(c: Comparison, table: "registered_model_tags" | "model_version_tags"): Fragment {
  const t = sql.table(table);
  const owner = table === "registered_model_tags" ? sql`kv.model_id = m.model_id` : sql`kv.model_id = v.model_id and kv.version = v.version`;
  if (c.comparator === "IS NULL") return sql`not exists (select 1 from ${t} kv where ${owner} and kv.key = ${c.key})`;
  if (c.comparator === "IS NOT NULL") return sql`exists (select 1 from ${t} kv where ${owner} and kv.key = ${c.key})`;
  return sql`exists (select 1 from ${t} kv where ${owner} and kv.key = ${c.key} and ${compareSql(sql.ref("kv.value"), c)})`;
}

export function modelFilterSql(filter: Comparison[]): Fragment[] {
  return filter.map((c) => {
    if (c.type === "tag") return tagExists(c, "registered_model_tags");
    if (c.type !== "attribute") throw invalid(`Registered models can be searched by name, timestamps and tags, not '${c.type}s.${c.key}'`);
    return compareSql(sql.ref(attribute(MODEL_ATTRIBUTES, c.key, "registered model")), c);
  });
}

export function versionFilterSql(filter: Comparison[]): Fragment[] {
  return filter.map((c) => {
    if (c.type === "tag") return tagExists(c, "model_version_tags");
    if (c.type !== "attribute") throw invalid(`Model versions can be searched by attributes and tags, not '${c.type}s.${c.key}'`);
    return compareSql(sql.ref(attribute(VERSION_ATTRIBUTES, c.key, "model version")), c);
  });
}

function orderSql(clauses: OrderByClause[], map: Record<string, string>, what: string): Fragment[] {
  return clauses.map((o) => {
    if (o.type !== "attribute") throw invalid(`Invalid order_by '${o.type}s.${o.key}' for ${what}s`);
    return sql`${sql.ref(attribute(map, o.key, what))} ${o.ascending ? sql`asc` : sql`desc`}`;
  });
}

/** Default: name ascending. */
export function modelOrderSql(clauses: OrderByClause[]): Fragment[] {
  return [...orderSql(clauses, MODEL_ATTRIBUTES, "registered model"), sql`m.name asc`];
}

/** Default: name ascending, then newest version first. */
export function versionOrderSql(clauses: OrderByClause[]): Fragment[] {
  return [...orderSql(clauses, VERSION_ATTRIBUTES, "model version"), sql`m.name asc`, sql`v.version desc`];
}
