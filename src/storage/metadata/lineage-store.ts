/**
 * The LineageStore port: directed, typed edges of the lineage graph ("run produced model
 * version", "dataset trained model version"...), readable in both directions.
 */

export type LineageNodeType = "experiment" | "run" | "model_version" | "dataset" | "feature_service" | "deployment";
export const LINEAGE_NODE_TYPES: readonly LineageNodeType[] = ["experiment", "run", "model_version", "dataset", "feature_service", "deployment"];

export interface LineageNode {
  type: LineageNodeType;
  /** run id, `<model name>/<version>`, dataset URI, feature service name, ... */
  id: string;
}

export interface LineageEdge {
  src: LineageNode;
  relation: string;
  dst: LineageNode;
  attributes: Record<string, unknown>;
  createdTime: number;
}

export interface LineageStore {
  /** Adds edges; an edge that exists already (same src, relation, dst) is left as it is. */
  addEdges(edges: LineageEdge[]): Promise<void>;
  /** Edges leaving a node (downstream). */
  edgesFrom(node: LineageNode): Promise<LineageEdge[]>;
  /** Edges entering a node (upstream). */
  edgesTo(node: LineageNode): Promise<LineageEdge[]>;
  /** Renames node ids when a registered model is renamed (`old/…` -> `new/…`). */
  renameModel(oldName: string, newName: string): Promise<void>;
  /** Removes the edges of one version, or of every version of a model, when they are deleted. */
  forgetModelVersions(name: string, version?: string): Promise<void>;
}
