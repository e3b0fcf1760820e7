/**
 * MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/<path>`): streamed download,
 * streamed upload, delete and listing. The path is taken from the raw URL and checked by
 * safeRelativePath, so no router decoding can smuggle a traversal past the check.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { ArtifactStore } from "../../storage/artifacts/artifact-store.js";
import { safeRelativePath } from "../../storage/artifacts/safe-path.js";
import { fileInfoJson } from "../mlflow/wire.js";
import { parseInput, type ApiRegistry } from "../route.js";

const TEXT_TYPES: Record<string, string> = {
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  log: "text/plain; charset=utf-8",
  csv: "text/plain; charset=utf-8",
  yaml: "text/plain; charset=utf-8",
  yml: "text/plain; charset=utf-8",
  md: "text/plain; charset=utf-8",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
};

/** Never text/html or SVG: an uploaded page must not run script in the server's origin. */
function contentTypeOf(key: string): string {
  const base = key.split("/").at(-1) ?? "";
  if (base === "MLmodel") return "text/plain; charset=utf-8";
  const ext = base.includes(".") ? (base.split(".").at(-1) ?? "").toLowerCase() : "";
  return TEXT_TYPES[ext] ?? "application/octet-stream";
}

/** The artifact path of a request: the raw URL after the route's prefix, before any query. */
function rawPathOf(req: FastifyRequest, prefix: string): string {
  const url = req.raw.url ?? "";
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  const at = path.indexOf(prefix);
  return at === -1 ? "" : path.slice(at + prefix.length);
}

/** Streams one stored artifact as a download: never rendered by a browser, whatever it holds. */
export async function sendArtifact(reply: FastifyReply, artifacts: ArtifactStore, key: string): Promise<FastifyReply> {
  const { stream, size } = await artifacts.get(key);
  const name = key.split("/").at(-1) ?? "artifact";
  return reply
    .header("content-type", contentTypeOf(key))
    .header("content-length", size)
    .header("x-content-type-options", "nosniff")
    .header("content-disposition", `attachment; filename="${name.replace(/["\\\r\n]/g, "_")}"`)
    .send(stream);
}

export function mlflowArtifactsPlugin(artifacts: ArtifactStore, registry?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const marker = "/mlflow-artifacts/artifacts/";
    const tag = "MLflow artifacts";
    // Uploads are streamed to the store as they arrive, whatever their type and size.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

    app.get("/artifacts", async (req) => {
      const input = parseInput(z.object({ path: z.string().optional() }), req.query);
      const key = safeRelativePath(input.path ?? "");
      const entries = await artifacts.list(key);
      const strip = key === "" ? 0 : key.length + 1;
      return { files: entries.map((e) => fileInfoJson({ ...e, path: e.path.slice(strip) })) };
    });

    app.get("/artifacts/*", async (req, reply) => sendArtifact(reply, artifacts, safeRelativePath(rawPathOf(req, marker))));

    app.put("/artifacts/*", async (req) => {
      const key = safeRelativePath(rawPathOf(req, marker));
      await artifacts.put(key, req.raw);
      return {};
    });

    app.delete("/artifacts/*", async (req) => {
      const key = safeRelativePath(rawPathOf(req, marker));
      await artifacts.delete(key);
      return {};
    });

    const base = `${app.prefix}/artifacts`;
    registry?.add({ method: "GET", path: base, summary: "List artifacts directly under ?path=", tag, input: z.object({ path: z.string().optional() }) });
    registry?.add({ method: "GET", path: `${base}/{path}`, summary: "Download an artifact (streamed)", tag });
    registry?.add({ method: "PUT", path: `${base}/{path}`, summary: "Upload an artifact (streamed body, atomic)", tag, rawBody: true });
    registry?.add({ method: "DELETE", path: `${base}/{path}`, summary: "Delete an artifact or a directory of artifacts", tag });
  };
}
