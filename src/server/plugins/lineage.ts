/** Flywheel's lineage API: a model version's graph, and walks from any node up or down the graph. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  CODE_VERSION_TAG,
  DEFAULT_DEPTH,
  MAX_DEPTH,
  SOURCE_NAME_TAG,
  VERSION_UPSTREAM_DEPTH,
  type GraphNode,
  type LineageGraph,
  type LineageService,
} from "../../registry/lineage-service.js";
import { LINEAGE_NODE_TYPES, type LineageEdge, type LineageNode } from "../../storage/metadata/lineage-store.js";
import { doubleOut, int64, str } from "../mlflow/fields.js";
import { route, type ApiRegistry } from "../route.js";

const ref = (n: LineageNode) => ({ type: n.type, id: n.id });

function nodeJson(n: GraphNode) {
  switch (n.type) {
    case "model_version": {
      const v = n.modelVersion;
      return {
        type: n.type,
        id: n.id,
        found: v !== undefined,
        details:
          v === undefined
            ? { name: n.name, version: n.version }
            : {
                name: v.name,
                version: v.version,
                status: v.status,
                ...(v.statusMessage !== "" ? { status_message: v.statusMessage } : {}),
                stage: v.currentStage,
                aliases: v.aliases,
                source: v.source,
                run_id: v.runId,
                creation_timestamp: v.creationTime,
              },
      };
    }
    case "run": {
      const r = n.run;
      const tag = (key: string) => r?.tags.find((t) => t.key === key)?.value ?? null;
      return {
        type: n.type,
        id: n.id,
        found: r !== undefined,
        details:
          r === undefined
            ? { run_id: n.id }
            : {
                run_id: r.info.runId,
                run_name: r.info.runName,
                experiment_id: r.info.experimentId,
                user_id: r.info.userId,
                status: r.info.status,
                lifecycle_stage: r.info.lifecycleStage,
                start_time: r.info.startTime,
                end_time: r.info.endTime,
                artifact_uri: r.info.artifactUri,
                params: r.params.map((p) => ({ key: p.key, value: p.value })),
                metrics: r.metrics.map((m) => ({ key: m.key, value: doubleOut(m.value), step: m.step, timestamp: m.timestamp })),
                code_version: tag(CODE_VERSION_TAG),
                source_name: tag(SOURCE_NAME_TAG),
              },
      };
    }
    case "experiment": {
      const e = n.experiment;
      return {
        type: n.type,
        id: n.id,
        found: e !== undefined,
        details: e === undefined ? { experiment_id: n.id } : { experiment_id: e.experimentId, name: e.name, lifecycle_stage: e.lifecycleStage },
      };
    }
    case "dataset":
      return { type: n.type, id: n.id, found: true, details: { uri: n.id, version: n.versions.length === 1 ? n.versions[0] : null, versions: n.versions } };
    case "feature_service":
      return { type: n.type, id: n.id, found: true, details: { name: n.id, features: n.features } };
    case "deployment":
      return { type: n.type, id: n.id, found: true, details: { name: n.id } };
  }
}

function edgeJson(e: LineageEdge) {
  return { src: ref(e.src), relation: e.relation, dst: ref(e.dst), attributes: e.attributes, created_time: e.createdTime };
}

function graphJson(g: LineageGraph) {
  return { root: ref(g.root), nodes: g.nodes.map(nodeJson), edges: g.edges.map(edgeJson), truncated: g.truncated };
}

export function lineagePlugin(lineage: LineageService, docs?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "Lineage";

    route(
      app,
      docs,
      {
        methods: ["GET"],
        url: "/models/:name/versions/:version/lineage",
        summary: `A model version's lineage: runs, experiments, datasets and feature services upstream (up to ${VERSION_UPSTREAM_DEPTH} hops), deployments downstream`,
        tag,
        input: z.object({ name: z.string(), version: str }),
      },
      async ({ input }) => graphJson(await lineage.versionLineage(input.name, input.version)),
    );

    route(
      app,
      docs,
      {
        methods: ["GET"],
        url: "/lineage",
        summary: `Walk the lineage graph from a node, e.g. the model versions trained on a dataset (direction defaults to downstream, depth to ${DEFAULT_DEPTH})`,
        tag,
        input: z.object({
          type: z.enum(LINEAGE_NODE_TYPES),
          id: z.string().min(1, "must be a non-empty string"),
          direction: z.enum(["upstream", "downstream"]).optional(),
          depth: int64.refine((n) => n >= 1 && n <= MAX_DEPTH, `must be an integer between 1 and ${MAX_DEPTH}`).optional(),
        }),
      },
      async ({ input }) => graphJson(await lineage.query({ type: input.type, id: input.id }, input.direction ?? "downstream", input.depth ?? DEFAULT_DEPTH)),
    );
  };
}
