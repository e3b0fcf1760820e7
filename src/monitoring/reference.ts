/**
 * A monitor's reference, built once per model version and stored: the version's training dataset
 * (from its package's `metadata.flywheel.training_dataset`, else the lineage graph's `trained`
 * edge), or the file the monitor names, read once with DuckDB and reduced to
 * - a reference profile (profile.ts) of the model's input columns and prediction columns, so every
 *   window is compared without rereading the data;
 * - each column's kind in the source, for type-change checks;
 * - the realized performance on the reference (the concept-drift baseline), when it has the target
 *   and the predictions; and a fitted CBPE model, when it has the target and the positive-class
 *   probability.
 * The document goes to the artifact store under `monitoring/references/` and is
 * recorded in the metadata store by (model, version, fingerprint); the fingerprint covers the
 * source (its path, size and modification time), the column choices and the options used.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { FlywheelError, isFlywheelError } from "../core/errors.js";
import type { LineageService } from "../registry/lineage-service.js";
import { modelVersionNode } from "../registry/lineage-service.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import type { MetadataStore } from "../storage/metadata/metadata-store.js";
import type { ModelVersion } from "../storage/metadata/registry-store.js";
import { OfflineDb, quoteIdentifier, readFileSql } from "../storage/offline/duckdb.js";
import { fitCbpe, type CbpeModel } from "./cbpe.js";
import { scoreReference, type PackageLocator, type ScoredReference } from "./reference-scoring.js";
import type { ColumnMapping } from "./column-mapping.js";
import type { MonitorSpec } from "./monitor-spec.js";
import { classificationMetrics, positiveClassOf, regressionMetrics, type Metrics } from "./performance.js";
import { buildProfile, parseProfile, type ReferenceProfile } from "./profile.js";
import type { SourceKind } from "./quality.js";
import { describeFile, fileFormatOf, kindOfType, readDataset } from "./read-dataset.js";

export const REFERENCE_FORMAT = "flywheel.monitor-reference/v1";
const ARTIFACT_SCHEME = "mlflow-artifacts:";

export interface MonitorReference {
  readonly format: typeof REFERENCE_FORMAT;
  readonly model: string;
  readonly version: string;
  /** Where the data came from, as given, and how it was found. */
  readonly source: { readonly uri: string; readonly from: "monitor" | "package" | "lineage" };
  readonly createdAt: string;
  readonly rows: number;
  readonly profile: ReferenceProfile;
  readonly sources: Record<string, SourceKind>;
  readonly target?: string;
  readonly prediction?: string;
  readonly probability?: string;
  readonly task?: "classification" | "regression";
  readonly positiveClass?: string;
  readonly baseline?: Metrics;
  readonly cbpe?: CbpeModel;
  /** Why a baseline or a CBPE fit is missing. */
  readonly notes: string[];
}

/** Where a reference comes from and the columns it is read with. */
export interface ReferencePlan {
  readonly uri: string;
  readonly from: MonitorReference["source"]["from"];
  /** The model's input features, when the package lists them. */
  readonly features: string[] | undefined;
}

function unavailable(message: string, cause?: unknown): FlywheelError {
  return new FlywheelError("FW_MONITOR_REFERENCE_UNAVAILABLE", message, cause === undefined ? undefined : { cause });
}

/** Finds the reference data of a version: the monitor's own file, else the package's training dataset, else the lineage edge. */
export async function planReference(spec: MonitorSpec, version: ModelVersion, lineage: LineageService, metadata: MetadataStore): Promise<ReferencePlan> {
  const pkg = await lineage.readPackageLineage(version);
  const features = pkg?.features !== undefined && pkg.features.length > 0 ? [...pkg.features] : undefined;
  if (spec.reference?.uri !== undefined) return { uri: spec.reference.uri, from: "monitor", features };
  if (pkg?.trainingDataset?.uri !== undefined && pkg.trainingDataset.uri !== "") return { uri: pkg.trainingDataset.uri, from: "package", features };
  const edges = await metadata.lineage.edgesTo(modelVersionNode(version.name, version.version));
  const trained = edges.find((e) => e.relation === "trained" && e.src.type === "dataset");
  if (trained !== undefined) return { uri: trained.src.id, from: "lineage", features };
  throw unavailable(
    `Model ${version.name} version ${version.version} names no training dataset (metadata.flywheel.training_dataset in its MLmodel, or a 'trained' lineage edge), and monitor '${spec.name}' gives no reference.uri`,
  );
}

interface LocalFile {
  path: string;
  /** What identifies this content: the path with size and modification time, or the artifact key. */
  identity: string;
  cleanup(): Promise<void>;
}

/** A local path for a reference URI: a plain path, a file:// URI, or an artifact copied to a temporary file. */
export async function localReferenceFile(uri: string, artifacts: ArtifactStore): Promise<LocalFile> {
  if (uri.startsWith(ARTIFACT_SCHEME)) {
    const rest = uri.slice(ARTIFACT_SCHEME.length);
    const key = (rest.startsWith("//") ? rest.slice(2).replace(/^[^/]*/, "") : rest).replace(/^\/+/, "");
    const dir = await mkdtemp(join(tmpdir(), "flywheel-reference-"));
    const path = join(dir, basename(key));
    try {
      fileFormatOf(path);
      const { stream } = await artifacts.get(key);
      await pipeline(stream, createWriteStream(path));
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw unavailable(`Reference ${uri} cannot be read from the artifact store: ${(e as Error).message}`, e);
    }
    return { path, identity: `artifact:${key}`, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  let path: string;
  if (uri.startsWith("file:")) path = fileURLToPath(uri);
  else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(uri)) {
    throw unavailable(`Reference ${uri} is not a local file or an mlflow-artifacts:/ URI; give the monitor a reference.uri this server can read`);
  } else path = resolve(uri);
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error("not a file");
    return { path, identity: `file:${path}:${s.size}:${s.mtimeMs}`, cleanup: async () => undefined };
  } catch (e) {
    throw unavailable(`Reference ${uri} (${path}) cannot be read: ${(e as Error).message}`, e);
  }
}

/** The identity of everything a reference document depends on. */
export function referenceFingerprint(identity: string, spec: MonitorSpec, features: string[] | undefined): string {
  const h = createHash("sha256");
  h.update(
    JSON.stringify({
      format: REFERENCE_FORMAT,
      identity,
      reference: spec.reference ?? {},
      columns: spec.columns ?? features ?? null,
      nBins: spec.checks.drift?.nBins ?? null,
      cbpe: spec.checks.cbpe ?? null,
      task: spec.checks.performance?.task ?? null,
      positiveClass: spec.checks.performance?.positiveClass ?? null,
    }),
  );
  return h.digest("hex").slice(0, 32);
}

/** The columns to profile: the model's features (or the monitor's list), then the prediction and probability columns. */
export function referenceMapping(spec: MonitorSpec, available: readonly string[], features: string[] | undefined): { mapping: ColumnMapping; missing: string[] } {
  const ref = spec.reference ?? {};
  const outputs = [ref.prediction, ref.probability].filter((c): c is string => c !== undefined);
  const special = new Set<string>([...outputs, ...(ref.target === undefined ? [] : [ref.target]), ...(ref.ignore ?? [])]);
  const wanted = spec.columns ?? features;
  const missing = [...(wanted ?? []), ...outputs, ...(ref.target === undefined ? [] : [ref.target])].filter((c) => !available.includes(c));
  const ignore = available.filter((c) => special.has(c) ? !outputs.includes(c) : wanted !== undefined && !wanted.includes(c));
  return {
    mapping: {
      ...(outputs.length === 0 ? {} : { prediction: outputs }),
      ...(ignore.length === 0 ? {} : { ignore }),
      ...(ref.categoricalFeatures === undefined ? {} : { categoricalFeatures: ref.categoricalFeatures.filter((c) => available.includes(c)) }),
      ...(spec.checks.drift?.nBins === undefined ? {} : { drift: { nBins: spec.checks.drift.nBins } }),
    },
    missing,
  };
}

interface ReferenceOutputs {
  target: (string | null)[];
  targetValue: Float64Array;
  prediction: (string | null)[] | undefined;
  predictionValue: Float64Array | undefined;
  probability: Float64Array | undefined;
}

async function readOutputs(path: string, target: string, prediction: string | undefined, probability: string | undefined): Promise<ReferenceOutputs> {
  const db = await OfflineDb.open({ threads: 1 });
  try {
    const cols = [target, prediction, probability].map((c) => (c === undefined ? "NULL" : quoteIdentifier(c)));
    cols[2] = probability === undefined ? "NULL" : `TRY_CAST(${quoteIdentifier(probability)} AS DOUBLE)`;
    const rows = await db.query(`SELECT ${cols.map((c, i) => `${c} AS c${i}`).join(", ")} FROM ${readFileSql(path, fileFormatOf(path))}`);
    const txt = (v: unknown) => (v === null || v === undefined ? null : typeof v === "number" && !Number.isFinite(v) ? null : String(v));
    const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : typeof v === "boolean" ? Number(v) : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN);
    return {
      target: rows.map((r) => txt(r.c0)),
      targetValue: Float64Array.from(rows, (r) => num(r.c0)),
      prediction: prediction === undefined ? undefined : rows.map((r) => txt(r.c1)),
      predictionValue: prediction === undefined ? undefined : Float64Array.from(rows, (r) => num(r.c1)),
      probability: probability === undefined ? undefined : Float64Array.from(rows, (r) => (r.c2 === null ? Number.NaN : Number(r.c2))),
    };
  } finally {
    db.close();
  }
}

/** The baseline and the CBPE fit from the reference's target, predictions and probabilities. */
function fitOutputs(spec: MonitorSpec, out: ReferenceOutputs, notes: string[]): Pick<MonitorReference, "task" | "positiveClass" | "baseline" | "cbpe"> {
  const ref = spec.reference ?? {};
  const labelledIdx: number[] = [];
  out.target.forEach((t, i) => {
    if (t !== null) labelledIdx.push(i);
  });
  const classes = [...new Set(labelledIdx.map((i) => out.target[i] as string))];
  const task = spec.checks.performance?.task ?? (out.probability !== undefined || classes.length <= 20 || out.target.some((t) => t !== null && !Number.isFinite(Number(t))) ? "classification" : "regression");
  const given = spec.checks.performance?.positiveClass ?? ref.positiveClass;
  const positive = task === "classification" ? positiveClassOf(classes, undefined, given === undefined ? undefined : String(given)) : undefined;
  let baseline: Metrics | undefined;
  if (out.prediction !== undefined) {
    if (task === "classification") {
      const idx = labelledIdx.filter((i) => out.prediction?.[i] !== null);
      const proba = out.probability;
      baseline = classificationMetrics(
        {
          labels: idx.map((i) => out.target[i] as string),
          predictions: idx.map((i) => out.prediction?.[i] as string),
          ...(proba !== undefined && positive !== undefined && classes.length <= 2
            ? { probabilities: { classes: [classes.find((c) => c !== positive) ?? `not ${positive}`, positive], values: [Float64Array.from(idx, (i) => 1 - (proba[i] as number)), Float64Array.from(idx, (i) => proba[i] as number)] } }
            : {}),
        },
        positive,
      ).metrics;
    } else baseline = regressionMetrics(out.targetValue, out.predictionValue as Float64Array).metrics;
  } else notes.push("no baseline: the reference has no prediction column (reference.prediction)");
  let cbpe: CbpeModel | undefined;
  if (spec.checks.cbpe !== undefined) {
    if (task !== "classification" || positive === undefined || classes.length > 2) notes.push("no CBPE: it estimates binary classifiers only");
    else if (out.probability === undefined) notes.push("no CBPE: the reference has no positive-class probability column (reference.probability)");
    else {
      const p = out.probability;
      const idx = labelledIdx.filter((i) => (p[i] as number) >= 0 && (p[i] as number) <= 1);
      const y = Float64Array.from(idx, (i) => (out.target[i] === positive ? 1 : 0));
      const pred = out.prediction === undefined ? undefined : Float64Array.from(idx, (i) => (out.prediction?.[i] === positive ? 1 : 0));
      if (idx.length === 0) notes.push("no CBPE: no reference row has both a target and a probability");
      else cbpe = fitCbpe(y, Float64Array.from(idx, (i) => p[i] as number), pred, spec.checks.cbpe);
    }
  }
  return { task, ...(positive === undefined ? {} : { positiveClass: positive }), ...(baseline === undefined ? {} : { baseline }), ...(cbpe === undefined ? {} : { cbpe }) };
}

/** Reads the reference file and builds the document (profile, source kinds, baseline, CBPE). */
export async function buildReference(spec: MonitorSpec, version: ModelVersion, plan: ReferencePlan, path: string): Promise<MonitorReference> {
  const info = await describeFile(path);
  const available = info.filter((c) => kindOfType(c.type) !== undefined).map((c) => c.name);
  const { mapping, missing } = referenceMapping(spec, info.map((c) => c.name), plan.features);
  if (missing.length > 0) throw unavailable(`Reference ${plan.uri} has no column ${missing.map((m) => `'${m}'`).join(", ")} (it has ${info.map((c) => c.name).join(", ")})`);
  const kinds = new Map(info.flatMap((c) => (kindOfType(c.type) === undefined ? [] : [[c.name, kindOfType(c.type) as "numerical" | "categorical"] as const])));
  const ref = spec.reference ?? {};
  // A classifier's predicted labels are categories, even when the file stores them as numbers.
  const predType = info.find((c) => c.name === ref.prediction)?.type;
  const task = spec.checks.performance?.task;
  const labelsAreCategories = ref.prediction !== undefined && task !== "regression" && (task === "classification" || ref.probability !== undefined || kindOfType(predType ?? "") === "categorical");
  const forced = [...(mapping.categoricalFeatures ?? []), ...(labelsAreCategories ? [ref.prediction as string] : [])];
  for (const c of forced) kinds.set(c, "categorical");
  const data = await readDataset(path, { kinds, columns: available });
  const profile = buildProfile(data, mapping);
  const sources: Record<string, SourceKind> = {};
  for (const c of info) sources[c.name] = forced.includes(c.name) ? "categorical" : (kindOfType(c.type) ?? `unsupported:${c.type}`);
  const notes: string[] = [];
  const fitted = ref.target === undefined ? (notes.push("no baseline or CBPE: the monitor names no reference.target"), {}) : fitOutputs(spec, await readOutputs(path, ref.target, ref.prediction, ref.probability), notes);
  return {
    format: REFERENCE_FORMAT,
    model: version.name,
    version: version.version,
    source: { uri: plan.uri, from: plan.from },
    createdAt: new Date().toISOString(),
    rows: data.rows,
    profile,
    sources,
    ...(ref.target === undefined ? {} : { target: ref.target }),
    ...(ref.prediction === undefined ? {} : { prediction: ref.prediction }),
    ...(ref.probability === undefined ? {} : { probability: ref.probability }),
    ...fitted,
    notes,
  };
}

/** A reference scored by the version first (`reference.score`), then built from the scored file. */
async function buildScoredReference(
  deps: { artifacts: ArtifactStore; packages?: PackageLocator },
  spec: MonitorSpec,
  version: ModelVersion,
  plan: ReferencePlan,
  path: string,
): Promise<MonitorReference> {
  if (deps.packages === undefined) throw unavailable(`Monitor '${spec.name}' asks for reference.score, and this server cannot read model packages`);
  let scored: ScoredReference;
  try {
    scored = await scoreReference({ artifacts: deps.artifacts, packages: deps.packages }, spec, version, path);
  } catch (e) {
    throw unavailable(`Reference ${plan.uri} cannot be scored by ${version.name} version ${version.version}: ${(e as Error).message}`, e);
  }
  try {
    const built = await buildReference({ ...spec, reference: scored.reference }, version, plan, scored.path);
    return { ...built, notes: [scored.note, ...built.notes] };
  } finally {
    await scored.cleanup();
  }
}

/** Parses a stored document. */
export function parseReference(text: string): MonitorReference {
  const doc = JSON.parse(text) as MonitorReference;
  if (doc.format !== REFERENCE_FORMAT) throw unavailable(`stored reference has format '${String(doc.format)}', expected ${REFERENCE_FORMAT}`);
  parseProfile(doc.profile);
  return doc;
}

/** Parsed documents by artifact key: a profile can be megabytes, and every run of a monitor reads it. */
const parsed = new Map<string, MonitorReference>();
const PARSED_MAX = 8;

function remember(key: string, doc: MonitorReference): MonitorReference {
  parsed.delete(key);
  parsed.set(key, doc);
  for (const k of parsed.keys()) {
    if (parsed.size <= PARSED_MAX) break;
    parsed.delete(k);
  }
  return doc;
}

/** The stored reference of a version for this monitor's settings, built (and stored) on first use. */
export async function loadOrBuildReference(
  deps: { metadata: MetadataStore; artifacts: ArtifactStore; lineage: LineageService; now: () => number; packages?: PackageLocator },
  spec: MonitorSpec,
  version: ModelVersion,
): Promise<{ reference: MonitorReference; built: boolean; artifactKey: string }> {
  const plan = await planReference(spec, version, deps.lineage, deps.metadata);
  const file = await localReferenceFile(plan.uri, deps.artifacts);
  try {
    const fingerprint = referenceFingerprint(file.identity, spec, plan.features);
    const stored = await deps.metadata.monitoring.getReference(version.name, version.version, fingerprint);
    const cached = stored === undefined ? undefined : parsed.get(stored.artifactKey);
    if (stored !== undefined && cached !== undefined) return { reference: remember(stored.artifactKey, cached), built: false, artifactKey: stored.artifactKey };
    if (stored !== undefined) {
      try {
        const { stream } = await deps.artifacts.get(stored.artifactKey);
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
        return { reference: remember(stored.artifactKey, parseReference(Buffer.concat(chunks).toString("utf8"))), built: false, artifactKey: stored.artifactKey };
      } catch (e) {
        // A lost or damaged document is built again below.
        if (isFlywheelError(e) && e.code === "FW_STORAGE_UNAVAILABLE") throw e;
      }
    }
    let reference: MonitorReference;
    try {
      reference = spec.reference?.score === true ? await buildScoredReference(deps, spec, version, plan, file.path) : await buildReference(spec, version, plan, file.path);
    } catch (e) {
      if (isFlywheelError(e) && e.code === "FW_MONITOR_REFERENCE_UNAVAILABLE") throw e;
      throw unavailable(`Reference ${plan.uri} cannot be profiled: ${(e as Error).message}`, e);
    }
    const id = createHash("sha256").update(`${version.name}\u0000${version.version}\u0000${fingerprint}`).digest("hex").slice(0, 40);
    const key = `monitoring/references/${id}.json`;
    await deps.artifacts.put(key, Readable.from([Buffer.from(JSON.stringify(reference))]));
    await deps.metadata.monitoring.putReference({ model: version.name, version: version.version, fingerprint, artifactKey: key, rows: reference.rows, createdTime: deps.now() });
    return { reference: remember(key, reference), built: true, artifactKey: key };
  } finally {
    await file.cleanup();
  }
}
