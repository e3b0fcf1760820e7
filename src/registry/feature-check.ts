/**
 * Registration's "declared features exist" check: a package that names a feature service, or
 * features as `view:feature` references, is checked against the feature definitions applied in
 * the server's feature-store project. Plain feature names without a service are the columns of a
 * training file and are not looked up.
 */
import type { FeatureRepo } from "../features/definitions.js";
import { resolveRefs, type ResolvedRef } from "../features/refs.js";
import type { FlywheelModelMetadata } from "../models/metadata.js";
import type { FeatureRegistryStore } from "../storage/metadata/feature-registry-store.js";

/** Returns why the declared features do not exist, or undefined when they do. */
export type DeclaredFeatureCheck = (meta: FlywheelModelMetadata) => Promise<string | undefined>;

const quoted = (names: string[]) => (names.length === 0 ? "(none)" : names.map((n) => `'${n}'`).join(", "));

export function featureCatalogCheck(registry: FeatureRegistryStore, project: string): DeclaredFeatureCheck {
  return async (meta) => {
    const refs = (meta.features ?? []).filter((f) => f.includes(":"));
    if (meta.featureService === undefined && refs.length === 0) return undefined;
    const latest = await registry.latest(project);
    if (latest === undefined) {
      return `metadata.flywheel declares ${meta.featureService !== undefined ? `feature service '${meta.featureService}'` : "feature references"}, but no feature definitions are applied in project '${project}'`;
    }
    const repo = JSON.parse(latest.snapshot) as FeatureRepo;
    if (meta.featureService !== undefined) {
      const service = repo.featureServices.find((s) => s.name === meta.featureService);
      if (service === undefined) {
        return `metadata.flywheel.feature_service '${meta.featureService}' is not a feature service of project '${project}' (valid: ${quoted(repo.featureServices.map((s) => s.name))})`;
      }
      const served: ResolvedRef[] = resolveRefs(repo, { featureService: service.name });
      for (const f of meta.features ?? []) {
        const matches = served.filter((r) => r.ref === f || `${r.view}__${r.feature}` === f || r.feature === f);
        if (matches.length === 0) {
          return `metadata.flywheel.features lists '${f}', which feature service '${service.name}' does not serve (it serves ${quoted(served.map((r) => r.ref))})`;
        }
        if (matches.length > 1) {
          return `metadata.flywheel.features lists '${f}', which names several features of service '${service.name}' (${quoted(matches.map((r) => r.ref))}); use view:feature`;
        }
      }
      return undefined;
    }
    try {
      resolveRefs(repo, { features: refs });
    } catch (e) {
      return `metadata.flywheel.features: ${(e as Error).message}`;
    }
    return undefined;
  };
}
