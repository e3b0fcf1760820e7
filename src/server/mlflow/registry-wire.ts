/** Registry objects to MLflow's JSON (model_registry.proto field names). */
import type { ModelVersion, RegisteredModel } from "../../storage/metadata/registry-store.js";

export function modelVersionJson(v: ModelVersion) {
  return {
    name: v.name,
    version: v.version,
    creation_timestamp: v.creationTime,
    last_updated_timestamp: v.lastUpdatedTime,
    user_id: v.userId,
    current_stage: v.currentStage,
    description: v.description,
    source: v.source,
    ...(v.runId !== null ? { run_id: v.runId } : {}),
    status: v.status,
    ...(v.statusMessage !== "" ? { status_message: v.statusMessage } : {}),
    tags: v.tags.map((t) => ({ key: t.key, value: t.value })),
    ...(v.runLink !== "" ? { run_link: v.runLink } : {}),
    aliases: v.aliases,
    ...(v.loggedModelId !== undefined && v.loggedModelId !== null ? { model_id: v.loggedModelId } : {}),
  };
}

export function registeredModelJson(m: RegisteredModel) {
  return {
    name: m.name,
    creation_timestamp: m.creationTime,
    last_updated_timestamp: m.lastUpdatedTime,
    user_id: m.userId,
    description: m.description,
    latest_versions: m.latestVersions.map(modelVersionJson),
    tags: m.tags.map((t) => ({ key: t.key, value: t.value })),
    aliases: m.aliases.map((a) => ({ alias: a.alias, version: a.version })),
  };
}
