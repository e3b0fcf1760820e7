/**
 * The registry's answers as the client returns them: every field present and typed, whatever an
 * older or other server (MLflow) left out or sent as a string.
 */
import { asList, asObject, asString, normalizeTags, toNumber } from "./normalize.js";
import type {
  AuditAction,
  LineageGraphResponse,
  ModelVersionStage,
  ModelVersionStatus,
  WireAuditEvent,
  WireLineageEdge,
  WireLineageNode,
  WireLineageNodeRef,
  WireModelPolicy,
  WireModelVersion,
  WireRegisteredModel,
} from "./registry-wire-types.js";

const STAGES: readonly ModelVersionStage[] = ["None", "Staging", "Production", "Archived"];
const STATUSES: readonly ModelVersionStatus[] = ["PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"];


function stringList(v: unknown): string[] {
  return asList(v).map(asString);
}

/** A string, or null when the server sent none. */
function nullableString(v: unknown): string | null {
  return v === undefined || v === null ? null : asString(v);
}

function stageOf(v: unknown): ModelVersionStage {
  const s = asString(v);
  return STAGES.find((x) => x.toLowerCase() === s.toLowerCase()) ?? "None";
}

function statusOf(v: unknown): ModelVersionStatus {
  const s = asString(v);
  return STATUSES.find((x) => x === s) ?? "PENDING_REGISTRATION";
}

export function normalizeModelVersion(v: unknown): WireModelVersion {
  const o = asObject(v);
  const out: WireModelVersion = {
    name: asString(o.name),
    version: asString(o.version),
    creation_timestamp: toNumber(o.creation_timestamp ?? 0),
    last_updated_timestamp: toNumber(o.last_updated_timestamp ?? o.creation_timestamp ?? 0),
    user_id: asString(o.user_id),
    current_stage: stageOf(o.current_stage),
    description: asString(o.description),
    source: asString(o.source),
    status: statusOf(o.status),
    tags: normalizeTags(o.tags),
    aliases: stringList(o.aliases),
  };
  const runId = asString(o.run_id);
  if (runId !== "") out.run_id = runId;
  const message = asString(o.status_message);
  if (message !== "") out.status_message = message;
  const runLink = asString(o.run_link);
  if (runLink !== "") out.run_link = runLink;
  return out;
}

export function normalizeRegisteredModel(v: unknown): WireRegisteredModel {
  const o = asObject(v);
  return {
    name: asString(o.name),
    creation_timestamp: toNumber(o.creation_timestamp ?? 0),
    last_updated_timestamp: toNumber(o.last_updated_timestamp ?? o.creation_timestamp ?? 0),
    user_id: asString(o.user_id),
    description: asString(o.description),
    latest_versions: asList(o.latest_versions).map(normalizeModelVersion),
    tags: normalizeTags(o.tags),
    aliases: asList(o.aliases).map((a) => {
      const x = asObject(a);
      return { alias: asString(x.alias), version: asString(x.version) };
    }),
  };
}

export function normalizePolicy(v: unknown): WireModelPolicy {
  const o = asObject(v);
  return {
    protected_aliases: stringList(o.protected_aliases),
    gates: stringList(o.gates),
    require_approval: o.require_approval === true,
    updated_time: toNumber(o.updated_time ?? 0),
    updated_by: asString(o.updated_by),
  };
}

export function normalizeAuditEvent(v: unknown): WireAuditEvent {
  const o = asObject(v);
  return {
    id: toNumber(o.id),
    model: asString(o.model),
    version: nullableString(o.version),
    action: asString(o.action) as AuditAction,
    from: nullableString(o.from),
    to: nullableString(o.to),
    actor: asString(o.actor),
    reason: asString(o.reason),
    time: toNumber(o.time ?? 0),
  };
}

function nodeRef(v: unknown): WireLineageNodeRef {
  const o = asObject(v);
  return { type: asString(o.type), id: asString(o.id) };
}

export function normalizeLineage(body: Record<string, unknown>): LineageGraphResponse {
  const nodes: WireLineageNode[] = asList(body.nodes).map((n) => {
    const o = asObject(n);
    return { ...nodeRef(o), found: o.found !== false, details: asObject(o.details) };
  });
  const edges: WireLineageEdge[] = asList(body.edges).map((e) => {
    const o = asObject(e);
    return {
      src: nodeRef(o.src),
      relation: asString(o.relation),
      dst: nodeRef(o.dst),
      attributes: asObject(o.attributes),
      created_time: toNumber(o.created_time ?? 0),
    };
  });
  return { root: nodeRef(body.root), nodes, edges, truncated: body.truncated === true };
}
