/** Makes a dataset's columns the kinds a column plan asks for. */
import { planColumns, type ColumnMapping, type PlannedColumn } from "./column-mapping.js";
import type { ColumnKind, Dataset, RawColumn } from "./dataset.js";

/** A numerical column recounted as categories: each distinct value a category, NaN and ±Infinity missing. */
function asCategorical(c: RawColumn): RawColumn {
  if (c.kind === "categorical") return c;
  const counts = new Map<string, number>();
  let missing = 0;
  for (const v of c.values) {
    if (!Number.isFinite(v)) missing++;
    else {
      const k = String(v);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return { kind: "categorical", counts, missing };
}

function kinds(ds: Dataset): Map<string, ColumnKind> {
  return new Map([...ds.columns].map(([name, c]) => [name, c.kind]));
}

export function skippedOf(ds: Dataset): { column: string; reason: string }[] {
  return [...(ds.unsupported ?? new Map<string, string>())].map(([column, type]) => ({ column, reason: `unsupported type ${type}` }));
}

/** The planned columns of a dataset, each made the planned kind. */
export function conformDataset(ds: Dataset, mapping: ColumnMapping): { plan: PlannedColumn[]; data: Dataset; skipped: { column: string; reason: string }[] } {
  const plan = planColumns(kinds(ds), mapping);
  return { plan, data: conform(ds, plan), skipped: skippedOf(ds) };
}

/** Keeps the planned columns; a numerical column planned categorical is recounted. */
export function conform(ds: Dataset, plan: PlannedColumn[]): Dataset {
  const columns = new Map<string, RawColumn>();
  for (const p of plan) {
    const c = ds.columns.get(p.name);
    if (c === undefined) continue;
    columns.set(p.name, p.kind === "categorical" ? asCategorical(c) : c);
  }
  return { rows: ds.rows, columns };
}

