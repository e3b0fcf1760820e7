/** Liveness (`/health`) and readiness (`/ready`: every store answers). */
import type { FastifyInstance } from "fastify";
import type { ArtifactStore } from "../../storage/artifacts/artifact-store.js";
import type { MetadataStore } from "../../storage/metadata/metadata-store.js";
import type { ApiRegistry } from "../route.js";

export function healthPlugin(deps: { metadata: MetadataStore; artifacts: ArtifactStore; version: string }, registry?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get("/health", async () => ({ status: "ok", version: deps.version }));
    app.get("/ready", async (_req, reply) => {
      const checks: Record<string, string> = {};
      let ready = true;
      try {
        await deps.metadata.ping();
        checks.metadata = "ok";
      } catch (e) {
        ready = false;
        checks.metadata = (e as Error).message;
      }
      try {
        await deps.artifacts.list("");
        checks.artifacts = "ok";
      } catch (e) {
        ready = false;
        checks.artifacts = (e as Error).message;
      }
      return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "unavailable", checks });
    });
    registry?.add({ method: "GET", path: "/health", summary: "Liveness: the process answers", tag: "Health" });
    registry?.add({ method: "GET", path: "/ready", summary: "Readiness: the metadata and artifact stores answer", tag: "Health" });
  };
}
