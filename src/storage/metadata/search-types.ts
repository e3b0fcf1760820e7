/**
 * The parsed form of MLflow's search grammar, shared by the parser (tracking) and the SQL
 * compiler (storage). A filter is a list of comparisons joined by AND.
 */

/** `dataset`: a run's logged datasets (`datasets.name`, `datasets.digest`, `datasets.context`). */
export type EntityType = "metric" | "param" | "tag" | "attribute" | "dataset";

/** The input tag holding a dataset's role in a run ("training", "eval"), as MLflow names it. */
export const DATASET_CONTEXT_TAG = "mlflow.data.context";

export type Comparator =
  | "="
  | "!="
  | ">"
  | ">="
  | "<"
  | "<="
  | "LIKE"
  | "ILIKE"
  | "IN"
  | "NOT IN"
  | "IS NULL"
  | "IS NOT NULL";

export type FilterValue = string | number | string[] | null;

export interface Comparison {
  type: EntityType;
  key: string;
  comparator: Comparator;
  value: FilterValue;
}

export type SearchFilter = Comparison[];

export interface OrderByClause {
  type: EntityType;
  key: string;
  ascending: boolean;
}
