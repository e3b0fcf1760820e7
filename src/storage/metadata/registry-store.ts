/**
 * The RegistryStore port: registered models, their numbered versions, tags, aliases and stages.
 * Validation (names, aliases, sources, packages) lives in the registry service.
 */
import type { Page, Tag } from "./common.js";
import type { OrderByClause, SearchFilter } from "./search-types.js";

export type Stage = "None" | "Staging" | "Production" | "Archived";
export const STAGES: readonly Stage[] = ["None", "Staging", "Production", "Archived"];
export type VersionStatus = "PENDING_REGISTRATION" | "FAILED_REGISTRATION" | "READY";

export interface ModelVersion {
  name: string;
  version: string;
  creationTime: number;
  lastUpdatedTime: number;
  description: string;
  userId: string;
  currentStage: Stage;
  source: string;
  runId: string | null;
  runLink: string;
  status: VersionStatus;
  statusMessage: string;
  tags: Tag[];
  aliases: string[];
  /** The MLflow 3 logged model the version was made from (`model_id`), if any. */
  loggedModelId?: string | null;
}

export interface RegisteredModel {
  name: string;
  creationTime: number;
  lastUpdatedTime: number;
  description: string;
  userId: string;
  tags: Tag[];
  aliases: { alias: string; version: string }[];
  /** The latest version in each stage (MLflow's `latest_versions`). */
  latestVersions: ModelVersion[];
}

export interface NewModelVersion {
  name: string;
  source: string;
  runId: string | null;
  runLink: string;
  description: string;
  userId: string;
  tags: Tag[];
  /** The MLflow 3 logged model the version is made from. */
  loggedModelId?: string | null;
  status: VersionStatus;
  statusMessage: string;
  now: number;
}

export interface RegistryQuery {
  filter: SearchFilter;
  orderBy: OrderByClause[];
  maxResults: number;
  offset: number;
}

export interface RegistryStore {
  createModel(input: { name: string; description: string; userId: string; tags: Tag[]; now: number }): Promise<RegisteredModel>;
  getModel(name: string): Promise<RegisteredModel | undefined>;
  renameModel(name: string, newName: string, now: number): Promise<void>;
  updateModel(name: string, description: string, now: number): Promise<void>;
  deleteModel(name: string): Promise<void>;
  searchModels(query: RegistryQuery): Promise<Page<RegisteredModel>>;
  setModelTag(name: string, tag: Tag, now: number): Promise<void>;
  deleteModelTag(name: string, key: string): Promise<boolean>;

  /** Issues the next version number atomically: concurrent creations never share one. */
  createVersion(input: NewModelVersion): Promise<ModelVersion>;
  getVersion(name: string, version: string): Promise<ModelVersion | undefined>;
  updateVersion(name: string, version: string, description: string, now: number): Promise<void>;
  /** Moves a version to a stage; with archiveExisting, other versions in that stage go to Archived. */
  transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean, now: number): Promise<void>;
  deleteVersion(name: string, version: string): Promise<void>;
  searchVersions(query: RegistryQuery): Promise<Page<ModelVersion>>;
  latestVersions(name: string, stages: Stage[]): Promise<ModelVersion[]>;
  setVersionTag(name: string, version: string, tag: Tag, now: number): Promise<void>;
  deleteVersionTag(name: string, version: string, key: string): Promise<boolean>;

  setAlias(name: string, alias: string, version: string, now: number): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<boolean>;
  getAlias(name: string, alias: string): Promise<string | undefined>;
  /**
   * A token that changes whenever what a reference to this model resolves to may have changed
   * (versions created or deleted, stages or aliases moved, renames); undefined when the model is absent.
   */
  modelRevision(name: string): Promise<string | undefined>;
  /**
   * A count this process's writes through the store bump when they start and again when they end:
   * a revision token read while the count stood still is current unless another process wrote.
   * Absent when the store cannot tell.
   */
  writeCount?(): number;
}
