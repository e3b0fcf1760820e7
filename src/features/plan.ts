/**
 * What `flywheel features plan` shows and `apply` stores: the difference between the applied
 * definitions and the desired ones, object by object, with the fields that changed.
 */
import { KIND_LABEL, type Definition, type DefinitionKind, type FeatureRepo } from "./definitions.js";

export type ChangeOp = "create" | "update" | "delete";

export interface Change {
  op: ChangeOp;
  kind: DefinitionKind;
  name: string;
  /** For updates: the top-level fields whose values differ. */
  fields?: string[];
}

export function allDefinitions(repo: FeatureRepo): Definition[] {
  return [...repo.entities, ...repo.sources, ...repo.featureViews, ...repo.onDemandFeatureViews, ...repo.featureServices];
}

const ORDER: DefinitionKind[] = ["entity", "file_source", "push_source", "request_source", "feature_view", "on_demand_feature_view", "feature_service"];

/** Changes that turn `current` into `desired`, in dependency order (entities and sources first). */
export function diffRepos(current: FeatureRepo, desired: FeatureRepo): Change[] {
  const before = new Map(allDefinitions(current).map((d) => [`${d.kind}/${d.name}`, d]));
  const after = new Map(allDefinitions(desired).map((d) => [`${d.kind}/${d.name}`, d]));
  const changes: Change[] = [];
  for (const [key, d] of after) {
    const old = before.get(key);
    if (old === undefined) {
      changes.push({ op: "create", kind: d.kind, name: d.name });
      continue;
    }
    const keys = new Set([...Object.keys(old), ...Object.keys(d)]);
    const fields = [...keys]
      .filter((k) => JSON.stringify((old as unknown as Record<string, unknown>)[k]) !== JSON.stringify((d as unknown as Record<string, unknown>)[k]))
      .sort();
    if (fields.length > 0) changes.push({ op: "update", kind: d.kind, name: d.name, fields });
  }
  for (const [key, d] of before) {
    if (!after.has(key)) changes.push({ op: "delete", kind: d.kind, name: d.name });
  }
  const rank = (c: Change): number => ORDER.indexOf(c.kind) * 3 + (c.op === "delete" ? 2 : c.op === "update" ? 1 : 0);
  return changes.sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** One line per change, Terraform-style: `+ feature view 'x'`, `~ ... (ttl, schema)`, `- ...`. */
export function formatChange(c: Change): string {
  const sign = c.op === "create" ? "+" : c.op === "update" ? "~" : "-";
  const fields = c.fields !== undefined ? ` (${c.fields.join(", ")})` : "";
  return `${sign} ${KIND_LABEL[c.kind]} '${c.name}'${fields}`;
}
