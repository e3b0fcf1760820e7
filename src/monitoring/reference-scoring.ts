/**
 * A reference scored by the monitored version (`reference.score`): a training set has the
 * features and the target but no model outputs, and the performance baseline and CBPE need the
 * model's predictions and probabilities on it. The reference is scored as `flywheel predict` scores
 * a file (the package's feature list picks the columns), into a temporary Parquet file that has the
 * reference's columns plus `prediction` and, for a binary classifier, `probability` (the
 * positive-class probability). The monitor's reference settings are then completed with those
 * column names and the positive class.
 *
 * When the package names its classes and the target holds class ids (0, 1, ... as numbers), the
 * target is written as the class names, so it compares with the predictions (class names, as the
 * server answers and the inference log records them) and with labels posted as class names.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openScoringModel, scoreFile } from "../serving/batch-scoring.js";
import { readModelPackage } from "../serving/scoring-model.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import type { ModelVersion } from "../storage/metadata/registry-store.js";
import { OfflineDb, quoteIdentifier, quoteLiteral, readFileSql } from "../storage/offline/duckdb.js";
import type { MonitorSpec } from "./monitor-spec.js";

/** Where a version's package is (the registry). */
export interface PackageLocator {
  downloadUri(name: string, version: string): Promise<string>;
}

/** Added columns start with this; a clash with a column of the reference is refused with its name. */
const PREFIX = "scored_";

export interface ScoredReference {
  /** The scored file (Parquet). */
  path: string;
  /** The monitor's reference settings with the scored prediction and probability columns. */
  reference: NonNullable<MonitorSpec["reference"]>;
  /** What scoring found, for the reference's notes. */
  note: string;
  cleanup(): Promise<void>;
}

/** Scores the reference file at `path` with `version`; the caller builds the reference from the result. */
export async function scoreReference(
  deps: { artifacts: ArtifactStore; packages: PackageLocator },
  spec: MonitorSpec,
  version: ModelVersion,
  path: string,
): Promise<ScoredReference> {
  const { pkg, onnx } = await readModelPackage(deps.artifacts, await deps.packages.downloadUri(version.name, version.version));
  const model = await openScoringModel({ name: version.name, version: version.version, package: pkg, onnx });
  const dir = await mkdtemp(join(tmpdir(), "flywheel-scored-reference-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const scored = join(dir, "scored.parquet");
    // The package's feature list picks the model's columns (the monitor's `columns` only narrow drift).
    const result = await scoreFile(model, { input: path, output: scored, prefix: PREFIX });
    const added = new Set(result.addedColumns);
    // The first output with one column per row is the prediction; a two-column output, the probabilities.
    const outputs = model.signature.outputs.map((o) => o.name);
    const prediction = outputs.map((o) => PREFIX + o).find((c) => added.has(c));
    const probabilities = outputs
      .map((o) => result.addedColumns.filter((c) => c.startsWith(`${PREFIX}${o}_`)).map((c) => ({ column: c, cls: c.slice(`${PREFIX}${o}_`.length) })))
      .find((cols) => cols.length === 2);
    const ref = spec.reference ?? {};
    const given = spec.checks.performance?.positiveClass ?? ref.positiveClass;
    // As scikit-learn orders a binary classifier's classes: the second is the positive one.
    const positive = given === undefined ? probabilities?.[1]?.cls : String(given);
    const probability = probabilities?.find((p) => p.cls === positive)?.column;
    const classNames = pkg.flywheel?.classNames;
    // Class names that are the ids themselves ("0", "1") need no rewriting.
    const renames = classNames !== undefined && classNames.some((c, i) => c !== String(i)) ? classNames : undefined;
    const kept = await keepColumns(dir, scored, {
      added: result.addedColumns,
      prediction,
      probability,
      target: renames === undefined ? undefined : ref.target,
      classNames: renames ?? [],
    });
    const { score: _score, ...rest } = ref;
    const reference = {
      ...rest,
      ...(kept.prediction === undefined ? {} : { prediction: kept.prediction }),
      ...(kept.probability === undefined ? {} : { probability: kept.probability }),
      ...(kept.probability === undefined || positive === undefined ? {} : { positiveClass: positive }),
    };
    const note =
      `scored by ${version.name} version ${version.version} (${result.rows} rows): prediction '${kept.prediction ?? "none"}'` +
      (kept.probability === undefined ? "" : `, '${kept.probability}' the probability of class '${positive}'`) +
      (kept.targetNamed ? `, target class ids written as the package's class names` : "");
    return { path: kept.path, reference, note, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  } finally {
    await model.release();
  }
}

/**
 * The reference as it is built: its own columns, then the prediction and the probability under
 * the names `prediction` and `probability` (`scored_...` when the reference has such a column); the
 * model's other outputs and the model name and version columns are left out. The target is written
 * as class names when every value is a class id (a whole number from 0 to the number of classes
 * less one).
 */
async function keepColumns(
  dir: string,
  scored: string,
  o: { added: readonly string[]; prediction: string | undefined; probability: string | undefined; target: string | undefined; classNames: readonly string[] },
): Promise<{ path: string; prediction: string | undefined; probability: string | undefined; targetNamed: boolean }> {
  const db = await OfflineDb.open({ threads: 1 });
  try {
    const source = readFileSql(scored, "parquet");
    const own = new Set((await db.describe(source)).map((c) => c.name.toLowerCase()).filter((c) => !o.added.some((a) => a.toLowerCase() === c)));
    const nameFor = (wanted: string, column: string | undefined) => (column === undefined ? undefined : own.has(wanted) ? column : wanted);
    const prediction = nameFor("prediction", o.prediction);
    const probability = nameFor("probability", o.probability);
    let replace = "";
    if (o.target !== undefined) {
      const t = quoteIdentifier(o.target);
      const ids = o.classNames.map((_, i) => quoteLiteral(String(i))).join(", ");
      const rows = await db.query(
        `SELECT count(*) FILTER (WHERE ${t} IS NOT NULL AND CAST(${t} AS VARCHAR) NOT IN (${ids})) AS others, ` +
          `count(*) FILTER (WHERE ${t} IS NOT NULL) AS known, typeof(any_value(${t})) AS type FROM ${source}`,
      );
      const first = rows[0] ?? {};
      const numeric = typeof first.type === "string" && /INT|DOUBLE|FLOAT|DECIMAL|HUGEINT/.test(first.type);
      if (numeric && Number(first.others) === 0 && Number(first.known) > 0) {
        const cases = o.classNames.map((name, i) => `WHEN ${quoteLiteral(String(i))} THEN ${quoteLiteral(name)}`).join(" ");
        replace = ` REPLACE (CASE CAST(${t} AS VARCHAR) ${cases} END AS ${t})`;
      }
    }
    const outputs = [
      ...(o.prediction === undefined ? [] : [`${quoteIdentifier(o.prediction)} AS ${quoteIdentifier(prediction as string)}`]),
      ...(o.probability === undefined ? [] : [`${quoteIdentifier(o.probability)} AS ${quoteIdentifier(probability as string)}`]),
    ];
    const out = join(dir, "reference.parquet");
    const exclude = o.added.map(quoteIdentifier).join(", ");
    await db.run(`COPY (SELECT * EXCLUDE (${exclude})${replace}${outputs.map((x) => `, ${x}`).join("")} FROM ${source}) TO ${quoteLiteral(out)} (FORMAT parquet)`);
    return { path: out, prediction, probability, targetNamed: replace !== "" };
  } finally {
    db.close();
  }
}
