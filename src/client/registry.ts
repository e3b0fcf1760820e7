/**
 * `client.registry`: the model registry as served by `flywheel server`. MLflow's endpoints under
 * `/api/2.0/mlflow/` (registered-models/*, model-versions/*) work against MLflow too; Flywheel's
 * own under `/api/v1/` resolve `models:/` URIs and govern promotion (policies, gates, approvals,
 * audit log) and lineage.
 */
import { asList, asObject, asString, pageToken, toNumber } from "./normalize.js";
import { normalizeAuditEvent, normalizeLineage, normalizeModelVersion, normalizePolicy, normalizeRegisteredModel } from "./registry-normalize.js";
import type { HttpMethod, JsonTransport, QueryParams } from "./transport.js";
import type {
  ApproveRequest,
  AuditLogRequest,
  AuditLogResponse,
  CreateModelVersionRequest,
  CreateRegisteredModelRequest,
  GetLatestVersionsResponse,
  GetModelVersionDownloadUriResponse,
  LineageGraphResponse,
  ModelPolicyResponse,
  ModelVersionResponse,
  PromoteRequest,
  PromotionCheckResponse,
  PromotionTarget,
  RegisteredModelResponse,
  RenameRegisteredModelRequest,
  ResolveModelUriResponse,
  SearchModelVersionsRequest,
  SearchModelVersionsResponse,
  SearchRegisteredModelsRequest,
  SearchRegisteredModelsResponse,
  SetModelPolicyRequest,
  SetModelVersionTagRequest,
  SetRegisteredModelAliasRequest,
  SetRegisteredModelTagRequest,
  TransitionModelVersionStageRequest,
  UpdateModelVersionRequest,
  UpdateRegisteredModelRequest,
  WireAuditEvent,
  WireModelVersion,
  WireRegisteredModel,
} from "./registry-wire-types.js";

// The registry talks to the server through the transport's JsonTransport; these stay importable from here.
export type { HttpMethod, JsonTransport, QueryParams } from "./transport.js";

/** Follows `next_page_token` from `first` on, one page per iteration. */
export type Paginator = <P extends { next_page_token?: string }>(first: string | undefined, fetchPage: (token: string | undefined) => Promise<P>) => AsyncGenerator<P>;

const MLFLOW = "/api/2.0/mlflow/";
const V1 = "/api/v1/";
/** Page size when reading the audit log through. */
const AUDIT_PAGE = 1000;

function withToken<T extends object>(page: T, token: unknown): T & { next_page_token?: string } {
  const next = pageToken(token);
  return next === undefined ? page : { ...page, next_page_token: next };
}

/** Percent-encodes one path segment (model names may hold spaces, '@', '%', ...). */
const seg = (s: string) => encodeURIComponent(s);

/** `{alias}` or `{stage}`, refusing both or neither before the server does. */
function target(t: PromotionTarget): { alias: string } | { stage: string } {
  const hasAlias = t.alias !== undefined;
  if (hasAlias === (t.stage !== undefined)) throw new TypeError("A promotion names exactly one of 'alias' and 'stage'");
  return hasAlias ? { alias: t.alias } : { stage: t.stage as string };
}

/** registered-models/*, model-versions/* (MLflow) and models/* (Flywheel) endpoints. */
export class RegistryApi {
  constructor(
    private readonly t: JsonTransport,
    private readonly paginate: Paginator,
  ) {}

  private mlflow(method: HttpMethod, endpoint: string, params: object = {}): Promise<Record<string, unknown>> {
    return method === "GET" ? this.t.request(method, MLFLOW + endpoint, { query: params as QueryParams }) : this.t.request(method, MLFLOW + endpoint, { body: params });
  }

  private v1(method: HttpMethod, path: string, init: { query?: QueryParams; body?: object } = {}): Promise<Record<string, unknown>> {
    return this.t.request(method, V1 + path, init);
  }

  private versionPath(name: string, version: string, tail: string): string {
    return `models/${seg(name)}/versions/${seg(version)}/${tail}`;
  }

  private static model(body: Record<string, unknown>): RegisteredModelResponse {
    return { registered_model: normalizeRegisteredModel(body.registered_model) };
  }

  private static version(body: Record<string, unknown>): ModelVersionResponse {
    return { model_version: normalizeModelVersion(body.model_version) };
  }

  // ---- registered models ----

  async createRegisteredModel(req: CreateRegisteredModelRequest): Promise<RegisteredModelResponse> {
    return RegistryApi.model(await this.mlflow("POST", "registered-models/create", req));
  }

  async getRegisteredModel(name: string): Promise<RegisteredModelResponse> {
    return RegistryApi.model(await this.mlflow("GET", "registered-models/get", { name }));
  }

  async renameRegisteredModel(req: RenameRegisteredModelRequest): Promise<RegisteredModelResponse> {
    return RegistryApi.model(await this.mlflow("POST", "registered-models/rename", req));
  }

  /** Sets the description. */
  async updateRegisteredModel(req: UpdateRegisteredModelRequest): Promise<RegisteredModelResponse> {
    return RegistryApi.model(await this.mlflow("PATCH", "registered-models/update", req));
  }

  /** Deletes the model and all its versions. */
  async deleteRegisteredModel(name: string): Promise<void> {
    await this.mlflow("DELETE", "registered-models/delete", { name });
  }

  async searchRegisteredModels(req: SearchRegisteredModelsRequest = {}): Promise<SearchRegisteredModelsResponse> {
    const body = await this.mlflow("GET", "registered-models/search", req);
    return withToken({ registered_models: asList(body.registered_models).map(normalizeRegisteredModel) }, body.next_page_token);
  }

  /** Every page of a search, starting at `req.page_token`; `req.max_results` is the page size. */
  searchRegisteredModelsPages(req: SearchRegisteredModelsRequest = {}): AsyncGenerator<SearchRegisteredModelsResponse> {
    return this.paginate(req.page_token, (page_token) => this.searchRegisteredModels({ ...req, page_token }));
  }

  /** Every registered model matching the search, across pages. */
  async *searchRegisteredModelsAll(req: SearchRegisteredModelsRequest = {}): AsyncGenerator<WireRegisteredModel> {
    for await (const page of this.searchRegisteredModelsPages(req)) yield* page.registered_models;
  }

  /** The latest version in each of `stages` (every stage when empty). */
  async getLatestVersions(name: string, stages: string[] = []): Promise<GetLatestVersionsResponse> {
    const body = await this.mlflow("POST", "registered-models/get-latest-versions", { name, stages });
    return { model_versions: asList(body.model_versions).map(normalizeModelVersion) };
  }

  async setRegisteredModelTag(req: SetRegisteredModelTagRequest): Promise<void> {
    await this.mlflow("POST", "registered-models/set-tag", req);
  }

  async deleteRegisteredModelTag(name: string, key: string): Promise<void> {
    await this.mlflow("DELETE", "registered-models/delete-tag", { name, key });
  }

  /** Points an alias at a version (through the model's gates when the alias is protected). */
  async setRegisteredModelAlias(req: SetRegisteredModelAliasRequest): Promise<void> {
    await this.mlflow("POST", "registered-models/alias", req);
  }

  async deleteRegisteredModelAlias(name: string, alias: string): Promise<void> {
    await this.mlflow("DELETE", "registered-models/alias", { name, alias });
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersionResponse> {
    return RegistryApi.version(await this.mlflow("GET", "registered-models/alias", { name, alias }));
  }

  // ---- model versions ----

  /**
   * Registers a version of a model package in the artifact store. Flywheel checks the package
   * now: the answer's status is READY, or FAILED_REGISTRATION with a `status_message`.
   */
  async createModelVersion(req: CreateModelVersionRequest): Promise<ModelVersionResponse> {
    return RegistryApi.version(await this.mlflow("POST", "model-versions/create", req));
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersionResponse> {
    return RegistryApi.version(await this.mlflow("GET", "model-versions/get", { name, version }));
  }

  /** Sets the description. */
  async updateModelVersion(req: UpdateModelVersionRequest): Promise<ModelVersionResponse> {
    return RegistryApi.version(await this.mlflow("PATCH", "model-versions/update", req));
  }

  async deleteModelVersion(name: string, version: string): Promise<void> {
    await this.mlflow("DELETE", "model-versions/delete", { name, version });
  }

  async searchModelVersions(req: SearchModelVersionsRequest = {}): Promise<SearchModelVersionsResponse> {
    const body = await this.mlflow("GET", "model-versions/search", req);
    return withToken({ model_versions: asList(body.model_versions).map(normalizeModelVersion) }, body.next_page_token);
  }

  /** Every page of a search, starting at `req.page_token`; `req.max_results` is the page size. */
  searchModelVersionsPages(req: SearchModelVersionsRequest = {}): AsyncGenerator<SearchModelVersionsResponse> {
    return this.paginate(req.page_token, (page_token) => this.searchModelVersions({ ...req, page_token }));
  }

  /** Every version matching the search, across pages. */
  async *searchModelVersionsAll(req: SearchModelVersionsRequest = {}): AsyncGenerator<WireModelVersion> {
    for await (const page of this.searchModelVersionsPages(req)) yield* page.model_versions;
  }

  /** Moves a version to a stage (through the gates for Production). */
  async transitionModelVersionStage(req: TransitionModelVersionStageRequest): Promise<ModelVersionResponse> {
    return RegistryApi.version(await this.mlflow("POST", "model-versions/transition-stage", { archive_existing_versions: false, ...req }));
  }

  async getModelVersionDownloadUri(name: string, version: string): Promise<GetModelVersionDownloadUriResponse> {
    const body = await this.mlflow("GET", "model-versions/get-download-uri", { name, version });
    return { artifact_uri: asString(body.artifact_uri) };
  }

  async setModelVersionTag(req: SetModelVersionTagRequest): Promise<void> {
    await this.mlflow("POST", "model-versions/set-tag", req);
  }

  async deleteModelVersionTag(name: string, version: string, key: string): Promise<void> {
    await this.mlflow("DELETE", "model-versions/delete-tag", { name, version, key });
  }

  // ---- Flywheel: models:/ URIs, governance, lineage ----

  /** The version a `models:/<name>/<version>`, `models:/<name>@<alias>`, `.../latest` or `.../<stage>` URI names now. */
  async resolve(uri: string): Promise<ResolveModelUriResponse> {
    const body = await this.v1("GET", "models/resolve", { query: { uri } });
    return { model_version: normalizeModelVersion(body.model_version), artifact_uri: asString(body.artifact_uri) };
  }

  /** The model's promotion policy (the default one until it is set). */
  async getPolicy(name: string): Promise<ModelPolicyResponse> {
    return { policy: normalizePolicy((await this.v1("GET", `models/${seg(name)}/policy`)).policy) };
  }

  /** Changes the given fields of the policy; the others keep their value. */
  async setPolicy(name: string, req: SetModelPolicyRequest): Promise<ModelPolicyResponse> {
    return { policy: normalizePolicy((await this.v1("PUT", `models/${seg(name)}/policy`, { body: req })).policy) };
  }

  /** Evaluates a promotion's gates and lists its approvals, without performing it. */
  async promotionCheck(name: string, version: string, to: PromotionTarget): Promise<PromotionCheckResponse> {
    const body = await this.v1("GET", this.versionPath(name, version, "promotion-check"), { query: target(to) });
    return {
      protected: body.protected === true,
      gates: asList(body.gates).map((g) => {
        const o = asObject(g);
        return { gate: asString(o.gate), passed: o.passed === true, detail: asString(o.detail) };
      }),
      approvals: asList(body.approvals).map((a) => {
        const o = asObject(a);
        return { approver: asString(o.approver), reason: asString(o.reason), time: toNumber(o.time ?? 0) };
      }),
      allowed_without_approval: body.allowed_without_approval === true,
    };
  }

  /** Records the client's user as approving a promotion (it counts for another requester). */
  async approve(name: string, version: string, req: ApproveRequest): Promise<void> {
    await this.v1("POST", this.versionPath(name, version, "approve"), { body: { ...target(req), ...(req.reason !== undefined ? { reason: req.reason } : {}) } });
  }

  /**
   * Moves an alias to the version or the version to a stage, through the model's gates. A refusal
   * is a FlywheelApiError: 409 `FW_GOVERNANCE_GATE_FAILED` naming the gate, 403
   * `FW_GOVERNANCE_APPROVAL_REQUIRED` without an approval by another user.
   */
  async promote(name: string, version: string, req: PromoteRequest): Promise<ModelVersionResponse> {
    const body = {
      ...target(req),
      ...(req.reason !== undefined ? { reason: req.reason } : {}),
      ...(req.archive_existing_versions !== undefined ? { archive_existing_versions: req.archive_existing_versions } : {}),
    };
    return RegistryApi.version(await this.v1("POST", this.versionPath(name, version, "promote"), { body }));
  }

  /** One page of the audit log, oldest first: one model's (`req.name`) or every model's. */
  async auditLog(req: AuditLogRequest = {}): Promise<AuditLogResponse> {
    const path = req.name === undefined ? "audit" : `models/${seg(req.name)}/audit`;
    const body = await this.v1("GET", path, { query: { after: req.after, limit: req.limit } });
    return { events: asList(body.events).map(normalizeAuditEvent) };
  }

  /** Every audit event after `req.after`, oldest first, read `req.limit` (default 1000) at a time. */
  async *auditEvents(req: AuditLogRequest = {}): AsyncGenerator<WireAuditEvent> {
    const limit = req.limit ?? AUDIT_PAGE;
    let after = req.after;
    for (;;) {
      const { events } = await this.auditLog({ ...req, after, limit });
      yield* events;
      const last = events.at(-1);
      if (events.length < limit || last === undefined) return;
      if (after !== undefined && last.id <= after) throw new Error(`The audit log did not advance past event ${after}`);
      after = last.id;
    }
  }

  /** The version's lineage graph: run, experiment, datasets and feature services upstream, deployments downstream. */
  async lineage(name: string, version: string): Promise<LineageGraphResponse> {
    return normalizeLineage(await this.v1("GET", this.versionPath(name, version, "lineage")));
  }
}
