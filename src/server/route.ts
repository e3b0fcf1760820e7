/**
 * Route definition with one zod schema per request: the same schema parses the request and
 * describes it in the OpenAPI document.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import { FlywheelError } from "../core/errors.js";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RouteDoc {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  input?: z.ZodType;
  /** Other paths that answer the same way (documented as aliases). */
  aliases?: string[];
  /** A raw (non-JSON) request body, such as an artifact upload. */
  rawBody?: boolean;
}

/** Collects every documented route; the OpenAPI plugin renders it. */
export class ApiRegistry {
  readonly routes: RouteDoc[] = [];
  add(doc: RouteDoc): void {
    if (!this.routes.some((r) => r.method === doc.method && r.path === doc.path)) this.routes.push(doc);
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "request" : out;
}

/** Parses with a zod schema; the first problem becomes a 400 naming the field and the rule. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = fieldPath(issue?.path ?? []);
  let rule = issue?.message ?? "invalid";
  if (issue?.code === "invalid_type" && /received undefined/.test(rule)) rule = "missing value for required parameter";
  throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid value for '${field}': ${rule}`, { details: { field } });
}

export interface RouteContext<I> {
  input: I;
  req: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteSpec<I> {
  methods: Method[];
  url: string;
  summary: string;
  tag: string;
  input?: z.ZodType<I>;
  /**
   * A hand-written check for a hot route, tried before the schema: the input when the request is
   * certainly valid (what the schema would produce, for every field the handler reads), undefined
   * to let the schema decide and word the error. `params` (the path parameters) win over fields of
   * the request data with the same names, as they do for the schema.
   */
  fastInput?: (raw: unknown, params?: Readonly<Record<string, string>>) => I | undefined;
}

/**
 * A route's input from its request data (`source`) and path parameters: the parameters join an
 * object source and win over its fields of the same name; then the hand-written check, else the schema.
 */
export function routeInput<I>(spec: Pick<RouteSpec<I>, "input" | "fastInput">, source: unknown, params: Readonly<Record<string, string>> | undefined): I {
  if (spec.input === undefined) return undefined as I;
  const fast = spec.fastInput?.(source, params);
  if (fast !== undefined) return fast;
  const raw = params !== undefined && Object.keys(params).length > 0 && typeof source === "object" && source !== null && !Array.isArray(source) ? { ...source, ...params } : source;
  return parseInput(spec.input, raw);
}

/**
 * Registers a JSON route under the plugin's prefix. GET input comes from the query string,
 * DELETE from the query string and the body, other methods from the JSON body.
 */
export function route<I>(
  app: FastifyInstance,
  registry: ApiRegistry | undefined,
  spec: RouteSpec<I>,
  handler: (ctx: RouteContext<I>) => Promise<unknown>,
): void {
  for (const method of spec.methods) {
    app.route({
      method,
      url: spec.url,
      handler: async (req, reply) => {
        // MLflow's clients send DELETE with a JSON body; curl users tend to use the query string.
        const body = typeof req.body === "object" && req.body !== null && !Array.isArray(req.body) ? req.body : {};
        const source = method === "GET" ? req.query : method === "DELETE" ? { ...(req.query as object), ...body } : req.body;
        // Path parameters (`/models/:name`) join the input; they win over body fields of the same name.
        const input = routeInput(spec, source, req.params as Record<string, string> | undefined);
        const out = await handler({ input, req, reply });
        return out ?? {};
      },
    });
    registry?.add({
      method,
      path: `${app.prefix}${spec.url}`.replace(/:([A-Za-z_]+)/g, "{$1}").replace(/\/\*$/, "/{path}"),
      summary: spec.summary,
      tag: spec.tag,
      ...(spec.input !== undefined ? { input: spec.input } : {}),
    });
  }
}
