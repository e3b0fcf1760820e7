/**
 * The model registry with MLflow's rules: registered models, numbered versions, stages, tags and
 * aliases. A new version's package is checked when it is registered (READY or FAILED_REGISTRATION).
 */
import type { Clock } from "../core/clock.js";
import { FlywheelError, invalidField } from "../core/errors.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import type { MetadataStore, Tag } from "../storage/metadata/metadata-store.js";
import type { ModelVersion, RegisteredModel, Stage, VersionStatus } from "../storage/metadata/registry-store.js";
import { STAGES } from "../storage/metadata/registry-store.js";
import { decodePageToken, encodePageToken } from "../tracking/page-token.js";
import { parseFilter, parseOrderBy } from "../tracking/search-grammar.js";
import { validateTag } from "../tracking/validation.js";
import { Governance } from "./governance.js";
import { parseModelUri, parseStage, type ModelRef } from "./model-uri.js";
import { resolveSource } from "./source.js";

const ALIAS_RE = /^[\w-]*$/;
const MODELS_DEFAULT_MAX = 100;
const MODELS_MAX = 1000;
const VERSIONS_DEFAULT_MAX = 10_000;
const VERSIONS_MAX = 200_000;
/** The logged-model tag MLflow 3 lists a logged model's registered versions in. */
const MODEL_VERSIONS_TAG = "mlflow.modelVersions";

/** Checks a package directory in the artifact store; the result becomes the version's status. */
export type PackageChecker = (artifacts: ArtifactStore, key: string) => Promise<{ status: VersionStatus; message: string }>;

export function validateModelName(name: string, field = "name"): void {
  if (name.trim() === "") throw invalidField(field, "registered model name must be a non-empty string");
  if (name.length > 256) throw invalidField(field, "registered model name is longer than 256 characters");
  if (name.includes("/")) throw invalidField(field, "registered model name must not contain '/' (models:/ URIs split on it)");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(name)) throw invalidField(field, "registered model name must not contain control characters");
}

/** MLflow's alias rules: `^[\w\-]*$`, at most 255 characters, `latest` and `v<number>` reserved. */
export function validateAlias(alias: string): void {
  if (alias === "") throw invalidField("alias", "alias must not be empty");
  if (alias.length > 255) throw invalidField("alias", "alias is longer than 255 characters");
  if (!ALIAS_RE.test(alias)) throw invalidField("alias", `alias '${alias}' may contain only letters, digits, '_' and '-'`);
  if (alias.toLowerCase() === "latest") throw invalidField("alias", "'latest' is reserved and cannot be used as an alias");
  if (/^v\d+$/i.test(alias)) throw invalidField("alias", `'${alias}' looks like a version and is reserved`);
}

export class RegistryService {
  readonly governance: Governance;
  private readonly versionListeners: ((v: ModelVersion) => Promise<unknown>)[] = [];

  constructor(
    private readonly store: MetadataStore,
    private readonly artifacts: ArtifactStore,
    private readonly clock: Clock,
    private readonly checkPackage: PackageChecker,
  ) {
    this.governance = new Governance(store, clock);
  }

  private get registry() {
    return this.store.registry;
  }

  // ---- registered models -----------------------------------------------------------------------

  async createModel(name: string, description: string, tags: Tag[], userId: string): Promise<RegisteredModel> {
    validateModelName(name);
    tags.forEach((t) => validateTag(t));
    const model = await this.registry.createModel({ name, description, userId, tags, now: this.clock.now() });
    await this.governance.audit({ modelName: name, version: null, action: "create_model", from: null, to: name, actor: userId, reason: "" });
    return model;
  }

  async getModel(name: string): Promise<RegisteredModel> {
    validateModelName(name);
    const m = await this.registry.getModel(name);
    if (m === undefined) throw new FlywheelError("FW_REGISTRY_MODEL_NOT_FOUND", `Registered Model with name=${name} not found`);
    return m;
  }

  async renameModel(name: string, newName: string, actor: string): Promise<RegisteredModel> {
    validateModelName(newName, "new_name");
    await this.registry.renameModel(name, newName, this.clock.now());
    await this.store.lineage.renameModel(name, newName);
    await this.governance.audit({ modelName: newName, version: null, action: "rename_model", from: name, to: newName, actor, reason: "" });
    return this.getModel(newName);
  }

  async updateModel(name: string, description: string): Promise<RegisteredModel> {
    await this.registry.updateModel(name, description, this.clock.now());
    return this.getModel(name);
  }

  async deleteModel(name: string, actor: string): Promise<void> {
    await this.registry.deleteModel(name);
    // Version numbers restart if the name is used again; old edges must not attach to new versions.
    await this.store.lineage.forgetModelVersions(name);
    await this.governance.audit({ modelName: name, version: null, action: "delete_model", from: name, to: null, actor, reason: "" });
  }

  async searchModels(input: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }) {
    const maxResults = input.maxResults ?? MODELS_DEFAULT_MAX;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MODELS_MAX) {
      throw invalidField("max_results", `must be an integer between 1 and ${MODELS_MAX}, got ${maxResults}`);
    }
    const fingerprint = { t: "models", f: input.filter ?? "", o: input.orderBy ?? [] };
    const page = await this.registry.searchModels({
      filter: parseFilter(input.filter, "registry"),
      orderBy: parseOrderBy(input.orderBy, "registry"),
      maxResults,
      offset: decodePageToken(input.pageToken, fingerprint),
    });
    return { models: page.items, nextPageToken: page.nextOffset === undefined ? undefined : encodePageToken(page.nextOffset, fingerprint) };
  }

  async setModelTag(name: string, tag: Tag): Promise<void> {
    validateTag(tag);
    await this.registry.setModelTag(name, tag, this.clock.now());
  }

  async deleteModelTag(name: string, key: string): Promise<void> {
    if (!(await this.registry.deleteModelTag(name, key))) {
      throw new FlywheelError("FW_TRACKING_TAG_NOT_FOUND", `No tag with key '${key}' on registered model ${name}`);
    }
  }

  async latestVersions(name: string, stages: string[]): Promise<ModelVersion[]> {
    const parsed = stages.map((s) => {
      const stage = parseStage(s);
      if (stage === undefined) throw invalidField("stages", `'${s}' is not a stage (${STAGES.join(", ")})`);
      return stage;
    });
    return this.registry.latestVersions(name, parsed);
  }

  // ---- versions ----------------------------------------------------------------------------------

  async createVersion(input: {
    name: string;
    source: string;
    runId?: string;
    runLink?: string;
    description?: string;
    tags?: Tag[];
    userId: string;
    /** MLflow 3's `model_id`: the logged model the version is made from. */
    modelId?: string;
  }): Promise<ModelVersion> {
    validateModelName(input.name);
    (input.tags ?? []).forEach((t) => validateTag(t));
    // One indexed read, so a missing model is a 404 before the package is read and loaded.
    if ((await this.registry.modelRevision(input.name)) === undefined) {
      throw new FlywheelError("FW_REGISTRY_MODEL_NOT_FOUND", `Registered Model with name=${input.name} not found`);
    }
    const resolved = await resolveSource(input.source, input.runId, this.sourceContext(), input.modelId);
    const checked = await this.checkPackage(this.artifacts, resolved.key);
    const created = await this.registry.createVersion({
      name: input.name,
      source: input.source,
      runId: input.runId !== undefined && input.runId !== "" ? input.runId : resolved.runId,
      runLink: input.runLink ?? "",
      description: input.description ?? "",
      userId: input.userId,
      tags: input.tags ?? [],
      loggedModelId: resolved.loggedModelId,
      status: checked.status,
      statusMessage: checked.message,
      now: this.clock.now(),
    });
    await this.governance.audit({ modelName: created.name, version: created.version, action: "create_version", from: null, to: created.status, actor: input.userId, reason: created.statusMessage });
    if (resolved.loggedModelId !== null) await this.recordRegistration(resolved.loggedModelId, created);
    for (const listener of this.versionListeners) await listener(created);
    return created;
  }

  /**
   * What resolving a source reads. A new version may only be made from an active logged model; a
   * version made earlier keeps its files when its logged model is deleted (`allowDeleted`).
   */
  private sourceContext(allowDeleted = false) {
    return {
      artifacts: this.artifacts,
      getRun: (id: string) => this.store.getRunInfo(id),
      getLoggedModel: async (id: string) => {
        const m = await this.store.loggedModels.get(id);
        return m === undefined || (m.lifecycleStage !== "active" && !allowDeleted) ? undefined : m;
      },
    };
  }

  /** Lists the version in the logged model's `mlflow.modelVersions` tag, as MLflow 3's server does. */
  private async recordRegistration(modelId: string, v: ModelVersion): Promise<void> {
    const model = await this.store.loggedModels.get(modelId);
    if (model === undefined) return;
    let list: unknown[] = [];
    try {
      const parsed: unknown = JSON.parse(model.tags.find((t) => t.key === MODEL_VERSIONS_TAG)?.value ?? "[]");
      if (Array.isArray(parsed)) list = parsed;
    } catch {
      // A tag someone else wrote that is not a JSON list is replaced.
    }
    list.push({ name: v.name, version: v.version });
    await this.store.loggedModels.setTags(modelId, [{ key: MODEL_VERSIONS_TAG, value: JSON.stringify(list) }], this.clock.now());
  }

  /** Runs `fn` after each version is created (lineage records its edges this way). */
  onVersionCreated(fn: (v: ModelVersion) => Promise<unknown>): void {
    this.versionListeners.push(fn);
  }

  async getVersion(name: string, version: string): Promise<ModelVersion> {
    const v = await this.registry.getVersion(name, version);
    if (v === undefined) {
      await this.getModel(name);
      throw new FlywheelError("FW_REGISTRY_VERSION_NOT_FOUND", `Model Version (name=${name}, version=${version}) not found`);
    }
    return v;
  }

  async updateVersion(name: string, version: string, description: string): Promise<ModelVersion> {
    await this.registry.updateVersion(name, version, description, this.clock.now());
    return this.getVersion(name, version);
  }

  async deleteVersion(name: string, version: string, actor: string): Promise<void> {
    await this.registry.deleteVersion(name, version);
    await this.store.lineage.forgetModelVersions(name, version);
    await this.governance.audit({ modelName: name, version, action: "delete_version", from: version, to: null, actor, reason: "" });
  }

  /** Moves a version to a stage; Production is governed (gates, approval) and every move is audited. */
  async transitionStage(name: string, version: string, stage: string, archiveExisting: boolean, actor: string, reason = ""): Promise<ModelVersion> {
    const parsed = parseStage(stage);
    if (parsed === undefined) throw invalidField("stage", `'${stage}' is not a stage (${STAGES.join(", ")})`);
    const before = await this.getVersion(name, version);
    await this.governance.authorize(before, { kind: "stage", stage: parsed }, actor);
    await this.registry.transitionStage(name, version, parsed, archiveExisting, this.clock.now());
    const note = archiveExisting && (parsed === "Staging" || parsed === "Production") ? `${reason}${reason !== "" ? "; " : ""}archive_existing_versions` : reason;
    await this.governance.audit({ modelName: name, version, action: "transition_stage", from: before.currentStage, to: parsed, actor, reason: note });
    return this.getVersion(name, version);
  }

  async searchVersions(input: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }) {
    const maxResults = input.maxResults ?? VERSIONS_DEFAULT_MAX;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > VERSIONS_MAX) {
      throw invalidField("max_results", `must be an integer between 1 and ${VERSIONS_MAX}, got ${maxResults}`);
    }
    const fingerprint = { t: "versions", f: input.filter ?? "", o: input.orderBy ?? [] };
    const page = await this.registry.searchVersions({
      filter: parseFilter(input.filter, "registry"),
      orderBy: parseOrderBy(input.orderBy, "registry"),
      maxResults,
      offset: decodePageToken(input.pageToken, fingerprint),
    });
    return { versions: page.items, nextPageToken: page.nextOffset === undefined ? undefined : encodePageToken(page.nextOffset, fingerprint) };
  }

  async setVersionTag(name: string, version: string, tag: Tag): Promise<void> {
    validateTag(tag);
    await this.registry.setVersionTag(name, version, tag, this.clock.now());
  }

  async deleteVersionTag(name: string, version: string, key: string): Promise<void> {
    if (!(await this.registry.deleteVersionTag(name, version, key))) {
      throw new FlywheelError("FW_TRACKING_TAG_NOT_FOUND", `No tag with key '${key}' on model version ${name}/${version}`);
    }
  }

  async downloadUri(name: string, version: string): Promise<string> {
    const v = await this.getVersion(name, version);
    const resolved = await resolveSource(v.source, v.runId ?? undefined, this.sourceContext(true), v.loggedModelId ?? undefined);
    return `mlflow-artifacts:/${resolved.key}`;
  }

  // ---- aliases and URIs --------------------------------------------------------------------------

  /** Points an alias at a version; a protected alias is governed, and every move is audited. */
  async setAlias(name: string, alias: string, version: string, actor: string, reason = ""): Promise<void> {
    validateAlias(alias);
    const target = await this.getVersion(name, version);
    await this.governance.authorize(target, { kind: "alias", alias }, actor);
    const previous = await this.registry.getAlias(name, alias);
    await this.registry.setAlias(name, alias, version, this.clock.now());
    await this.governance.audit({ modelName: name, version, action: "set_alias", from: previous ?? null, to: `${alias}=${version}`, actor, reason });
  }

  async deleteAlias(name: string, alias: string, actor: string): Promise<void> {
    const previous = await this.registry.getAlias(name, alias);
    if (!(await this.registry.deleteAlias(name, alias))) {
      throw new FlywheelError("FW_REGISTRY_ALIAS_NOT_FOUND", `Registered model alias ${alias} not found.`);
    }
    await this.governance.audit({ modelName: name, version: previous ?? null, action: "delete_alias", from: `${alias}=${previous ?? ""}`, to: null, actor, reason: "" });
  }

  async versionByAlias(name: string, alias: string): Promise<ModelVersion> {
    const version = await this.registry.getAlias(name, alias);
    if (version === undefined) throw new FlywheelError("FW_REGISTRY_ALIAS_NOT_FOUND", `Registered model alias ${alias} not found.`);
    return this.getVersion(name, version);
  }

  /** A token that changes whenever what a reference to the model resolves to may have changed. */
  modelRevision(name: string): Promise<string | undefined> {
    return this.registry.modelRevision(name);
  }

  /** The store's count of this process's registry writes (see `RegistryStore.writeCount`); undefined when it keeps none. */
  localWriteCount(): number | undefined {
    return this.registry.writeCount?.();
  }

  /** The version a `models:/` URI (or a parsed reference) points at now. */
  async resolve(ref: string | ModelRef): Promise<ModelVersion> {
    const r = typeof ref === "string" ? parseModelUri(ref) : ref;
    switch (r.kind) {
      case "version":
        return this.getVersion(r.name, r.version);
      case "alias":
        return this.versionByAlias(r.name, r.alias);
      case "latest":
      case "stage": {
        const stages: Stage[] = r.kind === "stage" ? [r.stage] : [...STAGES];
        const latest = (await this.registry.latestVersions(r.name, stages)).sort((a, b) => Number(b.version) - Number(a.version))[0];
        if (latest === undefined) {
          throw new FlywheelError("FW_REGISTRY_VERSION_NOT_FOUND", `Registered model ${r.name} has no version${r.kind === "stage" ? ` in stage ${r.stage}` : ""}`);
        }
        return latest;
      }
    }
  }
}
