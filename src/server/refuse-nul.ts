/**
 * Requests whose strings are stored in the metadata database may not hold the NUL character:
 * PostgreSQL cannot keep one in a text column (SQLite can, so the two backends would disagree).
 * Checked once for a whole scope of routes, so every field is covered, with a 400 naming it.
 */
import type { FastifyInstance } from "fastify";
import { invalidField } from "../core/errors.js";

/** The path (`tags[0].value`) of the first string in `value` holding a NUL, or undefined. */
export function nulPath(value: unknown, path = ""): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (typeof value !== "object" || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPath(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    // A key is stored too (tag and param keys come as values, but a map's keys could be).
    const here = path === "" ? k : `${path}.${k}`;
    if (k.includes("\u0000")) return here;
    const found = nulPath(v, here);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Refuses, for every route of `scope`, a body, query or path parameter with a NUL in a string. */
export function refuseNul(scope: FastifyInstance): void {
  scope.addHook("preHandler", async (req) => {
    for (const part of [req.params, req.query, req.body]) {
      const path = nulPath(part);
      if (path !== undefined) throw invalidField(path === "" ? "request" : path, "must not contain the NUL character (\\u0000)");
    }
  });
}
