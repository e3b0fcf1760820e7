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
}

/**
 * Registers a JSON route under the plugin's prefix. GET input comes from the query string,
 * other methods read the JSON body.
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
        const raw = method === "GET" || method === "DELETE" ? req.query : req.body;
        const input = spec.input === undefined ? (undefined as I) : parseInput(spec.input, raw);
        const out = await handler({ input, req, reply });
        return out ?? {};
      },
    });
    registry?.add({
      method,
      path: `${app.prefix}${spec.url}`,
      summary: spec.summary,
      tag: spec.tag,
      ...(spec.input !== undefined ? { input: spec.input } : {}),
    });
  }
}
