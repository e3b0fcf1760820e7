/**
 * Compiles parsed search filters and order_by clauses to SQL fragments, so that a search runs in
 * the database instead of loading every run. The fragments are dialect-neutral Kysely `sql`.
 */
import { sql, type RawBuilder } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import { DATASET_CONTEXT_TAG, type Comparison, type OrderByClause } from "../search-types.js";

type Fragment = RawBuilder<unknown>;

const RUN_ATTRIBUTES: Record<string, { column: string; numeric: boolean }> = {
  run_id: { column: "run_uuid", numeric: false },
  run_name: { column: "name", numeric: false },
  status: { column: "status", numeric: false },
  user_id: { column: "user_id", numeric: false },
  artifact_uri: { column: "artifact_uri", numeric: false },
  start_time: { column: "start_time", numeric: true },
  end_time: { column: "end_time", numeric: true },
  experiment_id: { column: "experiment_id", numeric: true },
  lifecycle_stage: { column: "lifecycle_stage", numeric: false },
};

const EXPERIMENT_ATTRIBUTES: Record<string, { column: string; numeric: boolean }> = {
  name: { column: "name", numeric: false },
  experiment_id: { column: "experiment_id", numeric: true },
  creation_time: { column: "creation_time", numeric: true },
  last_update_time: { column: "last_update_time", numeric: true },
  artifact_location: { column: "artifact_location", numeric: false },
  lifecycle_stage: { column: "lifecycle_stage", numeric: false },
};

export const RUN_ATTRIBUTE_NAMES = Object.keys(RUN_ATTRIBUTES);
export const EXPERIMENT_ATTRIBUTE_NAMES = Object.keys(EXPERIMENT_ATTRIBUTES);

function invalid(message: string): FlywheelError {
  return new FlywheelError("FW_SEARCH_INVALID_FILTER", message);
}

/** `value <op> param` for the simple comparators; LIKE is case-sensitive, ILIKE is not. */
export function compareSql(column: Fragment, c: Comparison): Fragment {
  const v = c.value;
  switch (c.comparator) {
    case "=":
      return sql`${column} = ${v}`;
    case "!=":
      return sql`${column} <> ${v}`;
    case ">":
      return sql`${column} > ${v}`;
    case ">=":
      return sql`${column} >= ${v}`;
    case "<":
      return sql`${column} < ${v}`;
    case "<=":
      return sql`${column} <= ${v}`;
    case "LIKE":
      return sql`${column} like ${v}`;
    case "ILIKE":
      return sql`lower(${column}) like lower(${v})`;
    case "IN":
    case "NOT IN": {
      const list = Array.isArray(v) ? v : [];
      if (list.length === 0) return c.comparator === "IN" ? sql`1 = 0` : sql`1 = 1`;
      const joined = sql.join(list.map((x) => sql`${x}`));
      return c.comparator === "IN" ? sql`${column} in (${joined})` : sql`${column} not in (${joined})`;
    }
    case "IS NULL":
      return sql`${column} is null`;
    case "IS NOT NULL":
      return sql`${column} is not null`;
  }
}

function keyValueExists(table: "params" | "tags" | "latest_metrics", c: Comparison, owner: Fragment): Fragment {
  const t = sql.table(table);
  if (c.comparator === "IS NULL") {
    return sql`not exists (select 1 from ${t} kv where kv.run_uuid = ${owner} and kv.key = ${c.key})`;
  }
  if (c.comparator === "IS NOT NULL") {
    return sql`exists (select 1 from ${t} kv where kv.run_uuid = ${owner} and kv.key = ${c.key})`;
  }
  // A NaN metric is stored as value 0 with is_nan = 1 and matches no numeric comparison.
  const nan = table === "latest_metrics" ? sql` and kv.is_nan = 0` : sql``;
  return sql`exists (select 1 from ${t} kv where kv.run_uuid = ${owner} and kv.key = ${c.key}${nan} and ${compareSql(sql.ref("kv.value"), c)})`;
}

/**
 * A run has an input matching `c`, as MLflow's stores answer `datasets.*`: a dataset it logged
 * whose name or digest compares, or an input whose context tag does (`!=` and `NOT IN` too ask
 * for some input that differs, not for none that matches).
 */
function datasetExists(c: Comparison, owner: Fragment): Fragment {
  if (c.key === "context") {
    return sql`exists (select 1 from run_inputs i join run_input_tags t on t.input_id = i.input_id where i.run_uuid = ${owner} and t.key = ${DATASET_CONTEXT_TAG} and ${compareSql(sql.ref("t.value"), c)})`;
  }
  if (c.key !== "name" && c.key !== "digest") throw invalid(`Invalid dataset key '${c.key}': expected name, digest or context`);
  return sql`exists (select 1 from run_inputs i join datasets d on d.dataset_uuid = i.dataset_uuid where i.run_uuid = ${owner} and ${compareSql(sql.ref(`d.${c.key}`), c)})`;
}

/** WHERE fragments for a run search; the runs table is aliased `r`. */
export function runFilterSql(filter: Comparison[]): Fragment[] {
  const owner = sql.ref("r.run_uuid");
  return filter.map((c) => {
    switch (c.type) {
      case "metric":
        return keyValueExists("latest_metrics", c, owner);
      case "param":
        return keyValueExists("params", c, owner);
      case "tag":
        return keyValueExists("tags", c, owner);
      case "dataset":
        return datasetExists(c, owner);
      case "attribute": {
        const attr = RUN_ATTRIBUTES[c.key];
        if (attr === undefined) {
          throw invalid(`Invalid attribute key '${c.key}': expected one of ${RUN_ATTRIBUTE_NAMES.join(", ")}`);
        }
        return compareSql(sql.ref(`r.${attr.column}`), c);
      }
    }
  });
}

/** WHERE fragments for an experiment search; the experiments table is aliased `e`. */
export function experimentFilterSql(filter: Comparison[]): Fragment[] {
  return filter.map((c) => {
    switch (c.type) {
      case "tag": {
        if (c.comparator === "IS NULL" || c.comparator === "IS NOT NULL") {
          const neg = c.comparator === "IS NULL" ? sql`not ` : sql``;
          return sql`${neg}exists (select 1 from experiment_tags kv where kv.experiment_id = e.experiment_id and kv.key = ${c.key})`;
        }
        return sql`exists (select 1 from experiment_tags kv where kv.experiment_id = e.experiment_id and kv.key = ${c.key} and ${compareSql(sql.ref("kv.value"), c)})`;
      }
      case "attribute": {
        const attr = EXPERIMENT_ATTRIBUTES[c.key];
        if (attr === undefined) {
          throw invalid(`Invalid attribute key '${c.key}': expected one of ${EXPERIMENT_ATTRIBUTE_NAMES.join(", ")}`);
        }
        return compareSql(sql.ref(`e.${attr.column}`), c);
      }
      case "metric":
      case "param":
      case "dataset":
        throw invalid(`Invalid filter on '${c.type}s.${c.key}': experiments can be filtered on attributes and tags only`);
    }
  });
}

export interface OrderSql {
  joins: Fragment[];
  orderBy: Fragment[];
}

/**
 * ORDER BY for a run search. Missing values sort last in both directions, NaN metrics just
 * before them (as MLflow does); ties fall back to start_time DESC, run_uuid ASC.
 */
export function runOrderSql(clauses: OrderByClause[]): OrderSql {
  const joins: Fragment[] = [];
  const orderBy: Fragment[] = [];
  clauses.forEach((o, i) => {
    const dir = o.ascending ? sql`asc` : sql`desc`;
    const alias = sql.raw(`o${i}`);
    switch (o.type) {
      case "metric":
        joins.push(sql`left join latest_metrics ${alias} on ${alias}.run_uuid = r.run_uuid and ${alias}.key = ${o.key}`);
        orderBy.push(sql`case when ${alias}.run_uuid is null then 2 when ${alias}.is_nan = 1 then 1 else 0 end asc`);
        orderBy.push(sql`${alias}.value ${dir}`);
        break;
      case "param":
      case "tag": {
        const table = sql.table(o.type === "param" ? "params" : "tags");
        joins.push(sql`left join ${table} ${alias} on ${alias}.run_uuid = r.run_uuid and ${alias}.key = ${o.key}`);
        orderBy.push(sql`case when ${alias}.run_uuid is null then 1 else 0 end asc`);
        orderBy.push(sql`${alias}.value ${dir}`);
        break;
      }
      case "dataset":
        throw invalid(`Invalid order_by 'datasets.${o.key}': runs can be ordered by metrics, params, tags and attributes`);
      case "attribute": {
        const attr = RUN_ATTRIBUTES[o.key];
        if (attr === undefined) {
          throw invalid(`Invalid order_by attribute '${o.key}': expected one of ${RUN_ATTRIBUTE_NAMES.join(", ")}`);
        }
        const col = sql.ref(`r.${attr.column}`);
        orderBy.push(sql`case when ${col} is null then 1 else 0 end asc`);
        orderBy.push(sql`${col} ${dir}`);
        break;
      }
    }
  });
  orderBy.push(sql`r.start_time desc`, sql`r.run_uuid asc`);
  return { joins, orderBy };
}

/** ORDER BY for an experiment search; default creation_time DESC, then experiment_id ASC. */
export function experimentOrderSql(clauses: OrderByClause[]): Fragment[] {
  const out: Fragment[] = [];
  for (const o of clauses) {
    if (o.type !== "attribute") {
      throw invalid(`Invalid order_by '${o.type}s.${o.key}': experiments can be ordered by ${EXPERIMENT_ATTRIBUTE_NAMES.join(", ")}`);
    }
    const attr = EXPERIMENT_ATTRIBUTES[o.key];
    if (attr === undefined) {
      throw invalid(`Invalid order_by attribute '${o.key}': expected one of ${EXPERIMENT_ATTRIBUTE_NAMES.join(", ")}`);
    }
    out.push(sql`${sql.ref(`e.${attr.column}`)} ${o.ascending ? sql`asc` : sql`desc`}`);
  }
  if (clauses.length === 0) out.push(sql`e.creation_time desc`);
  out.push(sql`e.experiment_id asc`);
  return out;
}
