/**
 * Checks that a normalized repo hangs together: references name existing objects of the right
 * kind, feature views have features, feature services name existing features, and on-demand
 * transformations compile and return their declared outputs for a sample row.
 */
import type { FeatureRepo, FeatureViewDef, FileSourceDef, OnDemandFeatureViewDef, SourceDef } from "./definitions.js";
import { DefinitionErrors } from "./normalize.js";
import { Transformation, sampleValue } from "./odfv.js";

/** The join keys of a feature view, in entity order. */
export function joinKeysOf(repo: FeatureRepo, view: FeatureViewDef): string[] {
  return view.entities.flatMap((e) => repo.entities.find((x) => x.name === e)?.joinKeys ?? []);
}

/** A feature view's features: its schema without the join-key columns. */
export function featuresOf(repo: FeatureRepo, view: FeatureViewDef): string[] {
  const keys = new Set(joinKeysOf(repo, view));
  return view.schema.filter((f) => !keys.has(f.name)).map((f) => f.name);
}

/** The file source that holds a view's history (a push source's batch source). */
export function batchSourceOf(repo: FeatureRepo, view: FeatureViewDef): FileSourceDef | undefined {
  const source = repo.sources.find((s) => s.name === view.source);
  if (source?.kind === "file_source") return source;
  if (source?.kind === "push_source") {
    const batch = repo.sources.find((s) => s.name === source.batchSource);
    return batch?.kind === "file_source" ? batch : undefined;
  }
  return undefined;
}

export function validateRepo(repo: FeatureRepo): void {
  const errors = new DefinitionErrors();
  const entities = new Map(repo.entities.map((e) => [e.name, e]));
  const sources = new Map<string, SourceDef>(repo.sources.map((s) => [s.name, s]));
  const views = new Map(repo.featureViews.map((v) => [v.name, v]));
  const odfvs = new Map(repo.onDemandFeatureViews.map((v) => [v.name, v]));
  const list = (names: Iterable<string>): string => {
    const all = [...names];
    return all.length === 0 ? "none are defined" : `known: ${all.join(", ")}`;
  };

  for (const s of repo.sources) {
    if (s.kind === "push_source") {
      const batch = sources.get(s.batchSource);
      if (batch?.kind !== "file_source") {
        errors.add(`push source '${s.name}'`, "batchSource", `'${s.batchSource}' is not a file source (${list([...sources.values()].filter((x) => x.kind === "file_source").map((x) => x.name))})`);
      }
    }
  }

  for (const v of repo.featureViews) {
    const where = `feature view '${v.name}'`;
    v.entities.forEach((e, i) => {
      if (!entities.has(e)) errors.add(where, `entities[${i}]`, `entity '${e}' is not defined (${list(entities.keys())})`);
    });
    const source = sources.get(v.source);
    if (source === undefined || source.kind === "request_source") {
      errors.add(where, "source", `'${v.source}' is not a file or push source (${list([...sources.values()].filter((s) => s.kind !== "request_source").map((s) => s.name))})`);
    }
    if (featuresOf(repo, v).length === 0) errors.add(where, "schema", "must list at least one feature (a field that is not a join key)");
    const keys = joinKeysOf(repo, v);
    if (new Set(keys).size !== keys.length) errors.add(where, "entities", "two entities share a join key");
    const batch = batchSourceOf(repo, v);
    if (batch !== undefined) {
      const reserved = new Set([batch.timestampField, batch.createdTimestampColumn].filter((x) => x !== undefined));
      for (const f of v.schema) {
        if (reserved.has(f.name)) errors.add(where, "schema", `'${f.name}' is the source's timestamp column, not a feature`);
      }
    }
  }

  for (const v of repo.onDemandFeatureViews) {
    const where = `on-demand feature view '${v.name}'`;
    const inputs: Record<string, unknown> = {};
    let complete = true;
    v.sources.forEach((s, i) => {
      const view = views.get(s);
      const source = sources.get(s);
      if (view !== undefined) {
        for (const f of view.schema) inputs[f.name] = sampleValue(f.dtype);
      } else if (source?.kind === "request_source") {
        for (const f of source.schema) inputs[f.name] = sampleValue(f.dtype);
      } else {
        complete = false;
        errors.add(where, `sources[${i}]`, `'${s}' is not a feature view or request source (${list([...views.keys(), ...[...sources.values()].filter((x) => x.kind === "request_source").map((x) => x.name)])})`);
      }
    });
    if (!complete) continue;
    tryTransform(v, inputs, errors);
  }

  for (const s of repo.featureServices) {
    const where = `feature service '${s.name}'`;
    s.features.forEach((p, i) => {
      const view = views.get(p.view);
      const odfv = odfvs.get(p.view);
      if (view === undefined && odfv === undefined) {
        errors.add(where, `features[${i}]`, `'${p.view}' is not a feature view (${list([...views.keys(), ...odfvs.keys()])})`);
        return;
      }
      const valid = view !== undefined ? featuresOf(repo, view) : (odfv as OnDemandFeatureViewDef).schema.map((f) => f.name);
      for (const f of p.features ?? []) {
        if (!valid.includes(f)) errors.add(where, `features[${i}]`, `'${p.view}' has no feature '${f}' (${list(valid)})`);
      }
    });
  }
  errors.throwIfAny();
}

function tryTransform(v: OnDemandFeatureViewDef, inputs: Record<string, unknown>, errors: DefinitionErrors): void {
  const where = `on-demand feature view '${v.name}'`;
  let t: Transformation;
  try {
    t = Transformation.compile(v);
  } catch (e) {
    errors.add(where, "transform", (e as Error).message.replace(/^.*transform: /, ""));
    return;
  }
  try {
    t.run([inputs]);
  } catch (e) {
    errors.add(where, "transform", `fails on a sample row ${JSON.stringify(inputs)}: ${(e as Error).message}`);
  }
}
