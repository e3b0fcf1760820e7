/**
 * The lineage graph around model versions (architecture principle 5): which experiment and run
 * produced a version, which dataset (URI and content version) and which feature service (with the
 * ordered feature list) it was trained on, and where it is deployed. Edges are recorded when a
 * version is registered; queries walk them upstream or downstream and describe every node.
 */
import { parse as parseYaml } from "yaml";
import { systemClock, type Clock } from "../core/clock.js";
import { FlywheelError, invalidField, isFlywheelError } from "../core/errors.js";
import { readFlywheelMetadata } from "../models/metadata.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { joinKey } from "../storage/artifacts/safe-path.js";
import { LINEAGE_NODE_TYPES, type LineageEdge, type LineageNode, type LineageNodeType } from "../storage/metadata/lineage-store.js";
import type { Experiment, MetadataStore, Run } from "../storage/metadata/metadata-store.js";
import type { ModelVersion } from "../storage/metadata/registry-store.js";
import { artifactKeyOfUri } from "../tracking/tracking-service.js";

/** Edge relations written by the registry. */
export const RELATION = {
  /** run -> model_version */
  produced: "produced",
  /** experiment -> run */
  contains: "contains",
  /** dataset -> model_version; attributes `{version}` when the dataset's version is known. */
  trained: "trained",
  /** feature_service -> model_version; attributes `{features: [...]}` in the model's input order. */
  features: "features",
} as const;

/** How far `versionLineage` walks upstream (model version <- run <- experiment needs 2). */
export const VERSION_UPSTREAM_DEPTH = 5;
export const DEFAULT_DEPTH = 5;
export const MAX_DEPTH = 20;
/** A walk stops adding nodes at this count and reports the graph as truncated. */
export const MAX_NODES = 10_000;
/** An MLmodel larger than this is not read for lineage. */
const MLMODEL_MAX_BYTES = 1024 * 1024;
const HYDRATE_CONCURRENCY = 32;

export const CODE_VERSION_TAG = "mlflow.source.git.commit";
export const SOURCE_NAME_TAG = "mlflow.source.name";

/** What a model package says it was trained on (`metadata.flywheel` of its MLmodel). */
export interface PackageLineage {
  featureService?: string;
  features?: string[];
  trainingDataset?: { uri: string; version?: string };
}

/** Finds a version's package; RegistryService fits. */
export interface PackageLocator {
  /** `mlflow-artifacts:/<key>` of the version's package directory. */
  downloadUri(name: string, version: string): Promise<string>;
}

/** A node of a query's answer, with what the stores know about it. */
export type GraphNode =
  | { type: "model_version"; id: string; name: string; version: string; modelVersion: ModelVersion | undefined }
  | { type: "run"; id: string; run: Run | undefined }
  | { type: "experiment"; id: string; experiment: Experiment | undefined }
  /** `versions`: the dataset versions named on the graph's `trained` edges, oldest first. */
  | { type: "dataset"; id: string; versions: string[] }
  /** `features`: the list on the newest `features` edge of the graph. */
  | { type: "feature_service"; id: string; features: string[] }
  | { type: "deployment"; id: string };

export interface LineageGraph {
  root: LineageNode;
  /** The root first, then in the order the walk reached them. */
  nodes: GraphNode[];
  edges: LineageEdge[];
  /** True when the walk stopped at MAX_NODES. */
  truncated: boolean;
}

export type Direction = "upstream" | "downstream";

export function modelVersionNode(name: string, version: string): LineageNode {
  return { type: "model_version", id: `${name}/${version}` };
}

/** `<name>/<version>`; model names never contain '/', so the last one separates them. */
export function splitModelVersionId(id: string): { name: string; version: string } {
  const at = id.lastIndexOf("/");
  return at < 0 ? { name: id, version: "" } : { name: id.slice(0, at), version: id.slice(at + 1) };
}

const nodeKey = (n: LineageNode) => `${n.type}\u0000${n.id}`;
const edgeKey = (e: LineageEdge) => `${nodeKey(e.src)}\u0000${e.relation}\u0000${nodeKey(e.dst)}`;

function isNodeType(t: string): t is LineageNodeType {
  return (LINEAGE_NODE_TYPES as readonly string[]).includes(t);
}

function checkNode(node: LineageNode): void {
  if (!isNodeType(node.type)) throw invalidField("type", `'${String(node.type)}' is not a node type (${LINEAGE_NODE_TYPES.join(", ")})`);
  if (node.id === "") throw invalidField("id", "must be a non-empty string");
  if (node.id.length > 1024) throw invalidField("id", "is longer than 1024 characters");
}

function checkDepth(depth: number): void {
  if (!Number.isInteger(depth) || depth < 1 || depth > MAX_DEPTH) throw invalidField("depth", `must be an integer between 1 and ${MAX_DEPTH}, got ${depth}`);
}

async function mapLimited<T, R>(items: T[], limit: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(f))));
  return out;
}

interface Walk {
  nodes: Map<string, LineageNode>;
  edges: Map<string, LineageEdge>;
  truncated: boolean;
}

export class LineageService {
  constructor(
    private readonly store: MetadataStore,
    private readonly artifacts: ArtifactStore,
    private readonly packages: PackageLocator,
    private readonly clock: Clock = systemClock,
  ) {}

  // ---- recording -------------------------------------------------------------------------------

  /**
   * Records a new version's edges: run -> version, experiment -> run, dataset -> version and
   * feature service -> version. Without `packageMetadata` the version's MLmodel is read; a
   * package without one (or with an unreadable one) gives no dataset or feature edges.
   * Recording again adds nothing.
   */
  async recordVersion(version: ModelVersion, packageMetadata?: PackageLineage): Promise<LineageEdge[]> {
    const meta = packageMetadata ?? (await this.readPackageLineage(version));
    const now = this.clock.now();
    const target = modelVersionNode(version.name, version.version);
    const edges: LineageEdge[] = [];
    const edge = (src: LineageNode, relation: string, dst: LineageNode, attributes: Record<string, unknown> = {}) =>
      edges.push({ src, relation, dst, attributes, createdTime: now });

    if (version.runId !== null && version.runId !== "") {
      const run: LineageNode = { type: "run", id: version.runId };
      edge(run, RELATION.produced, target);
      const info = await this.store.getRunInfo(version.runId);
      if (info !== undefined) edge({ type: "experiment", id: info.experimentId }, RELATION.contains, run);
    }
    const dataset = meta?.trainingDataset;
    if (dataset !== undefined && dataset.uri !== "") {
      edge({ type: "dataset", id: dataset.uri }, RELATION.trained, target, dataset.version !== undefined ? { version: dataset.version } : {});
    }
    if (meta?.featureService !== undefined && meta.featureService !== "") {
      edge({ type: "feature_service", id: meta.featureService }, RELATION.features, target, { features: [...(meta.features ?? [])] });
    }
    await this.store.lineage.addEdges(edges);
    return edges;
  }

  /** `metadata.flywheel` of the version's MLmodel, or undefined when it cannot be read. */
  async readPackageLineage(version: ModelVersion): Promise<PackageLineage | undefined> {
    let text: string;
    try {
      const key = artifactKeyOfUri(await this.packages.downloadUri(version.name, version.version));
      const { stream, size } = await this.artifacts.get(joinKey(key, "MLmodel"));
      if (size > MLMODEL_MAX_BYTES) {
        stream.destroy();
        return undefined;
      }
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
      text = Buffer.concat(chunks).toString("utf8");
    } catch (e) {
      // A lost database is not "no package": let it surface.
      if (isFlywheelError(e) && e.code === "FW_STORAGE_UNAVAILABLE") throw e;
      return undefined;
    }
    try {
      // YAML 1.1, as PyYAML (and so MLflow) writes MLmodel files.
      const doc = parseYaml(text, { version: "1.1" }) as { metadata?: { flywheel?: unknown } } | null;
      const section = typeof doc === "object" && doc !== null && typeof doc.metadata === "object" && doc.metadata !== null ? doc.metadata.flywheel : undefined;
      if (section === undefined || section === null) return {};
      const m = readFlywheelMetadata(section, "metadata.flywheel", "snake");
      return {
        ...(m.featureService !== undefined ? { featureService: m.featureService } : {}),
        ...(m.features !== undefined ? { features: m.features } : {}),
        ...(m.trainingDataset !== undefined ? { trainingDataset: m.trainingDataset } : {}),
      };
    } catch {
      return undefined;
    }
  }

  // ---- queries ---------------------------------------------------------------------------------

  /** The version's lineage: everything upstream (to VERSION_UPSTREAM_DEPTH) and one level downstream. */
  async versionLineage(name: string, version: string): Promise<LineageGraph> {
    const v = await this.store.registry.getVersion(name, version);
    if (v === undefined) {
      if ((await this.store.registry.getModel(name)) === undefined) {
        throw new FlywheelError("FW_REGISTRY_MODEL_NOT_FOUND", `Registered Model with name=${name} not found`);
      }
      throw new FlywheelError("FW_REGISTRY_VERSION_NOT_FOUND", `Model Version (name=${name}, version=${version}) not found`);
    }
    const root = modelVersionNode(v.name, v.version);
    const up = await this.walk(root, "upstream", VERSION_UPSTREAM_DEPTH);
    const down = await this.walk(root, "downstream", 1);
    for (const [k, n] of down.nodes) if (!up.nodes.has(k)) up.nodes.set(k, n);
    for (const [k, e] of down.edges) if (!up.edges.has(k)) up.edges.set(k, e);
    return this.graph(root, { nodes: up.nodes, edges: up.edges, truncated: up.truncated || down.truncated }, v);
  }

  /** Everything reachable from a node along edges (e.g. the model versions trained on a dataset). */
  downstream(node: LineageNode, depth = DEFAULT_DEPTH): Promise<LineageGraph> {
    return this.query(node, "downstream", depth);
  }

  /** Everything a node was derived from (its run, experiment, datasets, feature services). */
  upstream(node: LineageNode, depth = DEFAULT_DEPTH): Promise<LineageGraph> {
    return this.query(node, "upstream", depth);
  }

  async query(node: LineageNode, direction: Direction, depth = DEFAULT_DEPTH): Promise<LineageGraph> {
    checkNode(node);
    checkDepth(depth);
    return this.graph(node, await this.walk(node, direction, depth));
  }

  /** Breadth-first along edges, one round of queries per level. */
  private async walk(root: LineageNode, direction: Direction, depth: number): Promise<Walk> {
    const nodes = new Map<string, LineageNode>([[nodeKey(root), root]]);
    const edges = new Map<string, LineageEdge>();
    let frontier = [root];
    let truncated = false;
    for (let level = 0; level < depth && frontier.length > 0 && !truncated; level++) {
      const found = await mapLimited(frontier, HYDRATE_CONCURRENCY, (n) => (direction === "upstream" ? this.store.lineage.edgesTo(n) : this.store.lineage.edgesFrom(n)));
      const next: LineageNode[] = [];
      for (const e of found.flat()) {
        const other = direction === "upstream" ? e.src : e.dst;
        const k = nodeKey(other);
        if (!nodes.has(k)) {
          if (nodes.size >= MAX_NODES) {
            truncated = true;
            continue;
          }
          nodes.set(k, other);
          next.push(other);
        }
        edges.set(edgeKey(e), e);
      }
      frontier = next;
    }
    return { nodes, edges, truncated };
  }

  private async graph(root: LineageNode, walk: Walk, known?: ModelVersion): Promise<LineageGraph> {
    const edges = [...walk.edges.values()];
    const nodes = await mapLimited([...walk.nodes.values()], HYDRATE_CONCURRENCY, (n) => this.describe(n, edges, known));
    return { root, nodes, edges, truncated: walk.truncated };
  }

  private async describe(node: LineageNode, edges: LineageEdge[], known?: ModelVersion): Promise<GraphNode> {
    switch (node.type) {
      case "model_version": {
        const { name, version } = splitModelVersionId(node.id);
        const mv = known !== undefined && known.name === name && known.version === version ? known : await this.store.registry.getVersion(name, version);
        return { type: "model_version", id: node.id, name, version, modelVersion: mv };
      }
      case "run":
        return { type: "run", id: node.id, run: await this.store.getRun(node.id) };
      case "experiment":
        return { type: "experiment", id: node.id, experiment: await this.store.getExperiment(node.id) };
      case "dataset": {
        const versions: string[] = [];
        for (const e of edges) {
          const v = e.attributes.version;
          if (e.relation === RELATION.trained && e.src.type === "dataset" && e.src.id === node.id && typeof v === "string" && !versions.includes(v)) versions.push(v);
        }
        return { type: "dataset", id: node.id, versions };
      }
      case "feature_service": {
        let features: string[] = [];
        let newest = -Infinity;
        for (const e of edges) {
          const f = e.attributes.features;
          if (e.relation === RELATION.features && e.src.type === "feature_service" && e.src.id === node.id && Array.isArray(f) && e.createdTime >= newest) {
            newest = e.createdTime;
            features = f.filter((x): x is string => typeof x === "string");
          }
        }
        return { type: "feature_service", id: node.id, features };
      }
      case "deployment":
        return { type: "deployment", id: node.id };
    }
  }
}
