/**
 * Online reads with Feast's request and response shapes: entities as columns in, one result
 * column per join key and feature out, each with `values`, `statuses` and `event_timestamps`.
 * On-demand features are computed from their sources' online values and the request's fields.
 */
import { FlywheelError } from "../core/errors.js";
import type { EntityKey, FeatureStatus, OnlineStore } from "../storage/online/online-store.js";
import type { FeatureRepo, FeatureViewDef, OnDemandFeatureViewDef, RequestSourceDef, ScalarType } from "./definitions.js";
import { FeatureStoreError } from "./errors.js";
import { Transformation } from "./odfv.js";
import { resolveRefs, type FeatureSelection, type ResolvedRef } from "./refs.js";
import { featuresOf, joinKeysOf } from "./validate.js";
import { checkEntityValue, checkFeatureValue } from "./values.js";

export interface OnlineFeaturesRequest extends FeatureSelection {
  /** Join keys (and request-source fields) as columns of equal length. */
  entities: Readonly<Record<string, readonly unknown[]>>;
}

export interface OnlineResultColumn {
  values: unknown[];
  statuses: FeatureStatus[];
  event_timestamps: string[];
}

export interface OnlineFeaturesResponse {
  metadata: { feature_names: string[] };
  results: OnlineResultColumn[];
}

const EPOCH = "1970-01-01T00:00:00Z";
const iso = (ms: number | null): string => (ms === null ? EPOCH : new Date(ms).toISOString().replace(/\.000Z$/, "Z"));

/**
 * `iso` memoized for one response: the features of an entity row share its event time, so a
 * response of n rows x f features formats n distinct times, not n x f (formatting dominated reads).
 */
function isoCache(): (ms: number | null) => string {
  const seen = new Map<number, string>();
  return (ms) => {
    if (ms === null) return EPOCH;
    let text = seen.get(ms);
    if (text === undefined) {
      text = iso(ms);
      seen.set(ms, text);
    }
    return text;
  };
}

/** Lookups over one applied repo, built once per repo object (the store caches the repo by version). */
interface RepoIndex {
  views: Map<string, FeatureViewDef>;
  odfvs: Map<string, OnDemandFeatureViewDef>;
  entityType: Map<string, ScalarType>;
  joinKeys: Map<string, string[]>;
}

const indexes = new WeakMap<FeatureRepo, RepoIndex>();

function indexOf(repo: FeatureRepo): RepoIndex {
  let index = indexes.get(repo);
  if (index === undefined) {
    index = {
      views: new Map(repo.featureViews.map((v) => [v.name, v])),
      odfvs: new Map(repo.onDemandFeatureViews.map((v) => [v.name, v])),
      entityType: new Map(repo.entities.flatMap((e) => e.joinKeys.map((k) => [k, e.valueType] as const))),
      joinKeys: new Map(repo.featureViews.map((v) => [v.name, joinKeysOf(repo, v)])),
    };
    indexes.set(repo, index);
  }
  return index;
}

/** What a selection resolves to over one repo: its refs, and which views (and features) to read. */
interface ReadPlan {
  refs: ResolvedRef[];
  wanted: { view: FeatureViewDef; features: string[] }[];
  requestSources: Map<string, RequestSourceDef>;
}

function planOf(repo: FeatureRepo, index: RepoIndex, sel: FeatureSelection): ReadPlan {
  const refs = resolveRefs(repo, sel);
  const wanted = new Map<string, Set<string>>();
  const want = (view: FeatureViewDef, features: Iterable<string>): void => {
    const set = wanted.get(view.name) ?? new Set<string>();
    for (const f of features) set.add(f);
    wanted.set(view.name, set);
  };
  const requestSources = new Map<string, RequestSourceDef>();
  for (const r of refs) {
    if (!r.onDemand) want(index.views.get(r.view) as FeatureViewDef, [r.feature]);
    else {
      for (const s of (index.odfvs.get(r.view) as OnDemandFeatureViewDef).sources) {
        const fv = index.views.get(s);
        if (fv !== undefined) want(fv, featuresOf(repo, fv));
        const rs = repo.sources.find((x) => x.name === s);
        if (rs?.kind === "request_source") requestSources.set(rs.name, rs);
      }
    }
  }
  return { refs, wanted: [...wanted].map(([name, features]) => ({ view: index.views.get(name) as FeatureViewDef, features: [...features] })), requestSources };
}

/** Plans kept per repo; a client sends the same few selections over and over. */
const PLANS_PER_REPO = 256;
const plans = new WeakMap<FeatureRepo, Map<string, ReadPlan>>();

/** The plan of a selection, resolved once per repo version and selection (only successful ones are kept). */
function cachedPlan(repo: FeatureRepo, index: RepoIndex, sel: FeatureSelection): ReadPlan {
  let cache = plans.get(repo);
  if (cache === undefined) {
    cache = new Map();
    plans.set(repo, cache);
  }
  // JSON keeps strings apart from other values, so only the very same selection finds a kept plan.
  const key = JSON.stringify({ f: sel.features, s: sel.featureService, n: sel.fullFeatureNames === true });
  let plan = cache.get(key);
  if (plan === undefined) {
    plan = planOf(repo, index, sel);
    if (cache.size >= PLANS_PER_REPO) cache.delete(cache.keys().next().value as string);
    cache.set(key, plan);
  }
  return plan;
}

/** Most entity rows one request may ask for. */
export const MAX_ONLINE_ROWS = 10_000;

export class OnlineReader {
  private readonly transforms = new Map<string, Transformation>();

  constructor(
    private readonly online: OnlineStore,
    private readonly now: () => number,
  ) {}

  private transformation(view: OnDemandFeatureViewDef): Transformation {
    const key = `${view.name}\u0000${view.transform}`;
    let t = this.transforms.get(key);
    if (t === undefined) {
      t = Transformation.compile(view);
      this.transforms.set(key, t);
    }
    return t;
  }

  async read(repo: FeatureRepo, req: OnlineFeaturesRequest): Promise<OnlineFeaturesResponse> {
    const index = indexOf(repo);
    const { refs, wanted, requestSources } = cachedPlan(repo, index, req);
    if (typeof req.entities !== "object" || req.entities === null || Array.isArray(req.entities)) {
      throw new FeatureStoreError("entities", "'entities' must be a mapping of join key to a list of values");
    }
    const columns = Object.entries(req.entities);
    if (columns.length === 0) throw new FeatureStoreError("entities", "'entities' must name at least one join key");
    let n = -1;
    for (const [name, values] of columns) {
      if (!Array.isArray(values)) throw new FeatureStoreError(`entities.${name}`, `'entities.${name}' must be a list of values`);
      if (n === -1) n = values.length;
      else if (values.length !== n) {
        throw new FeatureStoreError(`entities.${name}`, `Every entities column must have the same length: '${columns[0]?.[0]}' has ${n} values, '${name}' has ${values.length}`);
      }
    }
    if (n === 0) throw new FeatureStoreError("entities", "'entities' columns are empty: give at least one entity row");
    if (n > MAX_ONLINE_ROWS) throw new FeatureStoreError("entities", `At most ${MAX_ONLINE_ROWS} entity rows per request (got ${n})`);

    const { views, odfvs, entityType, joinKeys } = index;

    const usedKeys = new Set<string>();
    const results = new Map<string, { values: unknown[]; statuses: FeatureStatus[]; ts: (number | null)[] }>();
    const now = this.now();
    for (const { view, features: list } of wanted) {
      const keys = joinKeys.get(view.name) ?? [];
      const entityKeys: EntityKey[] = [];
      for (const k of keys) {
        if (req.entities[k] === undefined) {
          throw new FeatureStoreError(`entities.${k}`, `Feature view '${view.name}' needs join key '${k}' in 'entities' (given: ${columns.map(([c]) => c).join(", ")})`);
        }
        usedKeys.add(k);
      }
      for (let i = 0; i < n; i++) {
        const key: Record<string, string | number> = {};
        for (const k of keys) key[k] = checkEntityValue((req.entities[k] as unknown[])[i], entityType.get(k) ?? "String", `entities.${k}`);
        entityKeys.push(key);
      }
      const read = await this.online.read(view.name, entityKeys, list, { ttlSeconds: view.ttlSeconds, now });
      for (const f of list) {
        results.set(`${view.name}:${f}`, {
          values: read.map((r) => r[f]?.value ?? null),
          statuses: read.map((r) => r[f]?.status ?? "NOT_FOUND"),
          ts: read.map((r) => r[f]?.eventTs ?? null),
        });
      }
    }

    // On-demand views: one batch per view over every entity row.
    for (const name of new Set(refs.filter((r) => r.onDemand).map((r) => r.view))) {
      const view = odfvs.get(name) as OnDemandFeatureViewDef;
      const rows: Record<string, unknown>[] = Array.from({ length: n }, () => ({}));
      for (const s of view.sources) {
        const fv = views.get(s);
        if (fv !== undefined) {
          for (const f of featuresOf(repo, fv)) {
            const col = results.get(`${fv.name}:${f}`);
            rows.forEach((row, i) => (row[f] = col?.values[i] ?? null));
          }
          continue;
        }
        const rs = requestSources.get(s) as RequestSourceDef;
        for (const field of rs.schema) {
          const col = req.entities[field.name];
          if (col === undefined) {
            throw new FeatureStoreError(`entities.${field.name}`, `On-demand feature view '${view.name}' needs request field '${field.name}' in 'entities'`);
          }
          rows.forEach((row, i) => (row[field.name] = checkFeatureValue(col[i], field.dtype, `entities.${field.name}`)));
        }
      }
      const out = this.transformation(view).run(rows);
      for (const f of view.schema) {
        results.set(`${view.name}:${f.name}`, {
          values: out.map((o) => o[f.name] ?? null),
          statuses: out.map((o) => (o[f.name] === null || o[f.name] === undefined ? "NULL_VALUE" : "PRESENT")),
          ts: out.map(() => now),
        });
      }
    }

    const response: OnlineFeaturesResponse = { metadata: { feature_names: [] }, results: [] };
    const isoOf = isoCache();
    for (const [name, values] of columns) {
      if (!usedKeys.has(name)) continue;
      response.metadata.feature_names.push(name);
      response.results.push({ values: [...values], statuses: values.map(() => "PRESENT"), event_timestamps: values.map(() => EPOCH) });
    }
    for (const r of refs) {
      const col = results.get(r.ref);
      if (col === undefined) throw new FlywheelError("FW_INTERNAL", `No values for '${r.ref}'`);
      response.metadata.feature_names.push(r.column);
      response.results.push({ values: col.values.map(jsonValue), statuses: col.statuses, event_timestamps: col.ts.map(isoOf) });
    }
    return response;
  }
}

/** JSON cannot hold NaN or infinities, nor bytes: those are sent as strings (base64 for bytes). */
function jsonValue(v: unknown): unknown {
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (Array.isArray(v)) return v.map(jsonValue);
  return v;
}
