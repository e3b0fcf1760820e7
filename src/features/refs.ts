/**
 * Resolving what a caller asks for (`["view:feature", ...]` or a feature service) against the
 * applied definitions, with Feast's naming: `feature`, or `view__feature` with full names.
 */
import type { FeatureRepo, FeatureViewDef, OnDemandFeatureViewDef } from "./definitions.js";
import { FeatureStoreError } from "./errors.js";
import { featuresOf } from "./validate.js";

export interface ResolvedRef {
  view: string;
  feature: string;
  /** `view:feature`. */
  ref: string;
  /** The output name: `feature`, or `view__feature` with full feature names. */
  column: string;
  onDemand: boolean;
}

export interface FeatureSelection {
  features?: readonly string[] | undefined;
  featureService?: string | undefined;
  fullFeatureNames?: boolean | undefined;
}

const quoted = (names: Iterable<string>): string => {
  const all = [...names].map((n) => `'${n}'`);
  return all.length === 0 ? "(none)" : all.join(", ");
};

/** Every feature the selection names, in request order (a service: in its projection order). */
export function resolveRefs(repo: FeatureRepo, sel: FeatureSelection): ResolvedRef[] {
  const hasFeatures = sel.features !== undefined && sel.features.length > 0;
  if (hasFeatures === (sel.featureService !== undefined)) {
    throw new FeatureStoreError("features", "Give either 'features' (a non-empty list of 'view:feature') or 'feature_service', not both");
  }
  const views = new Map<string, FeatureViewDef>(repo.featureViews.map((v) => [v.name, v]));
  const odfvs = new Map<string, OnDemandFeatureViewDef>(repo.onDemandFeatureViews.map((v) => [v.name, v]));
  // Computed once per view and call: a request naming f features of one view checks each against the same list.
  const namesOf = new Map<string, string[]>();
  const featureNames = (view: string): string[] => {
    let names = namesOf.get(view);
    if (names === undefined) {
      const fv = views.get(view);
      names = fv !== undefined ? featuresOf(repo, fv) : (odfvs.get(view)?.schema.map((f) => f.name) ?? []);
      namesOf.set(view, names);
    }
    return names;
  };
  const pairs: [string, string][] = [];
  if (sel.featureService !== undefined) {
    const service = repo.featureServices.find((s) => s.name === sel.featureService);
    if (service === undefined) {
      throw new FeatureStoreError("feature_service", `Unknown feature service '${sel.featureService}'; valid feature services: ${quoted(repo.featureServices.map((s) => s.name))}`);
    }
    for (const p of service.features) {
      for (const f of p.features ?? featureNames(p.view)) pairs.push([p.view, f]);
    }
  } else {
    for (const ref of sel.features ?? []) {
      const colon = typeof ref === "string" ? ref.indexOf(":") : -1;
      if (colon <= 0 || colon === ref.length - 1) {
        throw new FeatureStoreError("features", `Feature reference '${String(ref)}' is not of the form 'view:feature'`);
      }
      pairs.push([ref.slice(0, colon), ref.slice(colon + 1)]);
    }
  }
  const out: ResolvedRef[] = [];
  const seen = new Set<string>();
  const columns = new Map<string, string>();
  for (const [view, feature] of pairs) {
    const ref = `${view}:${feature}`;
    if (!views.has(view) && !odfvs.has(view)) {
      throw new FeatureStoreError("features", `Unknown feature view '${view}' in '${ref}'; valid views: ${quoted([...views.keys(), ...odfvs.keys()])}`);
    }
    const valid = featureNames(view);
    if (!valid.includes(feature)) {
      throw new FeatureStoreError("features", `Unknown feature '${feature}' in view '${view}'; valid features: ${quoted(valid.map((f) => `${view}:${f}`))}`);
    }
    if (seen.has(ref)) throw new FeatureStoreError("features", `Feature '${ref}' is requested twice`);
    seen.add(ref);
    const column = sel.fullFeatureNames === true ? `${view}__${feature}` : feature;
    const other = columns.get(column);
    if (other !== undefined) {
      throw new FeatureStoreError(
        "features",
        `Features '${other}' and '${ref}' would both be named '${column}'; set full_feature_names to name columns '<view>__<feature>'`,
      );
    }
    columns.set(column, ref);
    out.push({ view, feature, ref, column, onDemand: odfvs.has(view) });
  }
  return out;
}
