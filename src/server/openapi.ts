/** Renders the routes collected in the ApiRegistry as an OpenAPI 3.1 document. */
import { z } from "zod";
import type { ApiRegistry, RouteDoc } from "./route.js";
import { ERROR_CODES } from "../core/errors.js";

type JsonSchema = Record<string, unknown>;

function schemaOf(t: z.ZodType): JsonSchema {
  return z.toJSONSchema(t, { io: "input", unrepresentable: "any" }) as JsonSchema;
}

/** The inference protocols (V2 and V1) answer errors as {"error": "..."}; every other API as {error_code, message}. */
function errorSchemaOf(path: string): string {
  return path === "/v2" || path.startsWith("/v2/") || path.startsWith("/v1/models") ? "InferenceError" : "Error";
}

function operation(r: RouteDoc): JsonSchema {
  const op: JsonSchema = {
    summary: r.summary,
    tags: [r.tag],
    responses: {
      "200": { description: "Success", content: { "application/json": { schema: { type: "object" } } } },
      "4XX": { description: "Bad input or missing resource", content: { "application/json": { schema: { $ref: `#/components/schemas/${errorSchemaOf(r.path)}` } } } },
    },
  };
  // Path parameters (`{name}`; `{path}` is a wildcard's rest of the path) are declared as such and
  // left out of the query parameters and the body, though the route's input schema holds them too.
  const inPath = [...r.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
  const params: JsonSchema[] = inPath.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } }));
  const fromPath = new Set([...inPath, ...(inPath.includes("path") ? ["*"] : [])]);
  if (r.input !== undefined) {
    const s = withoutProperties(schemaOf(r.input), fromPath);
    if (r.method === "GET" || r.method === "DELETE") {
      const props = (s.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((s.required ?? []) as string[]);
      for (const [name, schema] of Object.entries(props)) params.push({ name, in: "query", required: required.has(name), schema });
    } else {
      op.requestBody = { required: true, content: { "application/json": { schema: s } } };
    }
  }
  if (r.rawBody === true) op.requestBody = { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } };
  if (params.length > 0) op.parameters = params;
  return op;
}

/** An object schema without the given properties. */
function withoutProperties(s: JsonSchema, names: ReadonlySet<string>): JsonSchema {
  if (names.size === 0 || s.properties === undefined) return s;
  const properties = Object.fromEntries(Object.entries(s.properties as Record<string, JsonSchema>).filter(([k]) => !names.has(k)));
  const required = ((s.required ?? []) as string[]).filter((k) => !names.has(k));
  const { required: _omitted, ...rest } = s;
  return { ...rest, properties, ...(required.length > 0 ? { required } : {}) };
}

export function buildOpenApi(registry: ApiRegistry, version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of registry.routes) {
    const item = (paths[r.path] ??= {});
    item[r.method.toLowerCase()] = operation(r);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Flywheel",
      version,
      description:
        "Flywheel's HTTP API. The MLflow-compatible tracking API is also served under /ajax-api/2.0/mlflow/. " +
        `Error codes: ${Object.keys(ERROR_CODES).join(", ")}.`,
    },
    paths,
    components: {
      schemas: {
        Error: {
          type: "object",
          required: ["error_code", "message"],
          properties: { error_code: { type: "string" }, message: { type: "string" } },
        },
        InferenceError: { type: "object", required: ["error"], properties: { error: { type: "string" } } },
      },
    },
  };
}
