/**
 * Traffic policies: how requests that name a model without a version or alias are spread over its
 * versions. A policy lists weighted routes (canary: 95/5; A/B: 50/50), optionally sticky on a
 * request header (the same key always takes the same route), and shadow targets that receive a
 * copy of every routed request whose answers are recorded but never returned.
 *
 * A policy is stored as the registered-model tag `flywheel.serving.traffic` (JSON), so it needs no
 * schema of its own, moves with the model, and reaches every serving replica within the settings
 * cache's second. Requests that name a version or an alias are never rerouted.
 */
import { createHash } from "node:crypto";
import { FlywheelError } from "../core/errors.js";
import type { ModelRef } from "../registry/model-uri.js";

export const TRAFFIC_TAG = "flywheel.serving.traffic";

/** A version (`"3"`) or an alias (`"@champion"`). */
export type TrafficTarget = { version: string } | { alias: string };

export interface TrafficRoute {
  target: TrafficTarget;
  /** Relative weight, an integer from 0 to 10000. */
  weight: number;
}

export interface TrafficPolicy {
  routes: TrafficRoute[];
  /** Targets that get a copy of each routed request; their answers are discarded. */
  shadows: TrafficTarget[];
  /** Header whose value picks the route deterministically (A/B by user); random split without it. */
  stickyHeader?: string;
}

export function targetName(t: TrafficTarget): string {
  return "alias" in t ? `@${t.alias}` : t.version;
}

export function targetRef(model: string, t: TrafficTarget): ModelRef {
  return "alias" in t ? { name: model, kind: "alias", alias: t.alias } : { name: model, kind: "version", version: t.version };
}

function invalid(field: string, rule: string): FlywheelError {
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid value for '${field}': ${rule}`, { details: { field } });
}

function parseTarget(raw: unknown, field: string): TrafficTarget {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid(field, "must be { version } or { alias }");
  const r = raw as Record<string, unknown>;
  if ((r.version === undefined) === (r.alias === undefined)) throw invalid(field, "must name exactly one of 'version' or 'alias'");
  if (r.version !== undefined) {
    const v = typeof r.version === "number" ? String(r.version) : r.version;
    if (typeof v !== "string" || !/^[1-9]\d{0,17}$/.test(v)) throw invalid(`${field}.version`, "must be a positive integer");
    return { version: v };
  }
  if (typeof r.alias !== "string" || !/^[\w-]{1,255}$/.test(r.alias)) throw invalid(`${field}.alias`, "must be an alias name (letters, digits, '_', '-')");
  return { alias: r.alias };
}

/** Checks a policy from a request (snake_case `sticky_header` accepted) and returns it normalized. */
export function parseTrafficPolicy(raw: unknown): TrafficPolicy {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid("traffic", "must be an object with 'routes'");
  const r = raw as Record<string, unknown>;
  if (!Array.isArray(r.routes) || r.routes.length === 0 || r.routes.length > 16) throw invalid("routes", "must be a list of 1 to 16 { target, weight } routes");
  const routes = r.routes.map((x, i): TrafficRoute => {
    const route = (typeof x === "object" && x !== null ? x : {}) as Record<string, unknown>;
    const weight = route.weight;
    if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 0 || weight > 10_000) throw invalid(`routes[${i}].weight`, "must be an integer from 0 to 10000");
    const target = parseTarget(route.target ?? (route.version !== undefined || route.alias !== undefined ? { version: route.version, alias: route.alias } : undefined), `routes[${i}].target`);
    return { target, weight };
  });
  if (routes.every((x) => x.weight === 0)) throw invalid("routes", "at least one route needs a weight above 0");
  const names = routes.map((x) => targetName(x.target));
  if (new Set(names).size !== names.length) throw invalid("routes", "a target is listed twice");
  const shadowsRaw = r.shadows ?? [];
  if (!Array.isArray(shadowsRaw) || shadowsRaw.length > 4) throw invalid("shadows", "must be a list of at most 4 targets");
  const shadows = shadowsRaw.map((x, i) => parseTarget(x, `shadows[${i}]`));
  const sticky = r.stickyHeader ?? r.sticky_header;
  if (sticky !== undefined && (typeof sticky !== "string" || !/^[A-Za-z0-9-]{1,64}$/.test(sticky))) throw invalid("sticky_header", "must be a header name");
  return { routes, shadows, ...(sticky === undefined ? {} : { stickyHeader: (sticky as string).toLowerCase() }) };
}

/** The policy a model's tags hold; undefined when none (or an unreadable one, which is ignored). */
export function trafficPolicyOf(tags: readonly { key: string; value: string }[]): TrafficPolicy | undefined {
  const raw = tags.find((t) => t.key === TRAFFIC_TAG)?.value;
  if (raw === undefined) return undefined;
  try {
    return parseTrafficPolicy(JSON.parse(raw));
  } catch {
    return undefined;
  }
}

/**
 * Picks a route: with a sticky key, by a hash of it (the same key, the same route, while the
 * weights stay); otherwise at random in proportion to the weights.
 */
export function chooseRoute(policy: TrafficPolicy, stickyKey: string | undefined, random: () => number = Math.random): TrafficRoute {
  const total = policy.routes.reduce((s, r) => s + r.weight, 0);
  let point: number;
  if (stickyKey !== undefined) {
    const h = createHash("sha256").update(stickyKey).digest();
    point = h.readUInt32BE(0) % total;
  } else point = Math.floor(random() * total);
  for (const r of policy.routes) {
    if (point < r.weight) return r;
    point -= r.weight;
  }
  return policy.routes[policy.routes.length - 1] as TrafficRoute;
}
