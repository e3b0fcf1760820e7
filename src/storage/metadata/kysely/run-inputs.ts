/**
 * Run inputs (MLflow's runs/log-inputs), one Kysely code path for SQLite and PostgreSQL.
 * Datasets are stored once per experiment by (name, digest); a run↔dataset link once per pair.
 */
import type { Kysely, Transaction } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import { randomToken } from "../../../core/ids.js";
import type { DatasetInput } from "../metadata-store.js";
import type { Database } from "../schema.js";
import { groupBy } from "./rows.js";

/** Rows per multi-row INSERT: 8 columns x 250 stays under every driver's parameter limit. */
const CHUNK = 250;

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const pairKey = (name: string, digest: string): string => `${name}\u0000${digest}`;

export class RunInputQueries {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Stores the datasets the experiment does not have yet (an existing one is kept as stored), then
   * links the run to each dataset it is not linked to yet, with that input's tags. A link that
   * exists already is left as it is, its tags included, as MLflow's SQL store does.
   */
  async log(runId: string, experimentId: string, inputs: DatasetInput[]): Promise<void> {
    if (inputs.length === 0) return;
    const experiment = Number(experimentId);
    await this.db.transaction().execute(async (trx) => {
      // Inserted in (name, digest) order so that concurrent requests take the unique-key locks in one
      // order (PostgreSQL would otherwise report a deadlock for two requests naming them differently ordered).
      const sorted = [...inputs].sort((a, b) => {
        const x = pairKey(a.dataset.name, a.dataset.digest);
        const y = pairKey(b.dataset.name, b.dataset.digest);
        return x < y ? -1 : x > y ? 1 : 0;
      });
      for (const part of chunks(sorted, CHUNK)) {
        await trx
          .insertInto("datasets")
          .values(
            part.map(({ dataset: d }) => ({
              dataset_uuid: randomToken(16),
              experiment_id: experiment,
              name: d.name,
              digest: d.digest,
              dataset_source_type: d.sourceType,
              dataset_source: d.source,
              dataset_schema: d.schema,
              dataset_profile: d.profile,
            })),
          )
          .onConflict((oc) => oc.columns(["experiment_id", "name", "digest"]).doNothing())
          .execute();
      }
      const ids = await this.datasetIds(trx, experiment, inputs);
      const byDataset = new Map<string, DatasetInput>();
      const links: { run_uuid: string; dataset_uuid: string }[] = [];
      for (const input of sorted) {
        const id = ids.get(pairKey(input.dataset.name, input.dataset.digest));
        if (id === undefined) throw new FlywheelError("FW_INTERNAL", `Dataset '${input.dataset.name}' (${input.dataset.digest}) vanished after insert`);
        byDataset.set(id, input);
        links.push({ run_uuid: runId, dataset_uuid: id });
      }
      // Links are made in the same (name, digest) order, for the same reason; input_id, which
      // runs/get lists them by, follows it.
      for (const part of chunks(links, CHUNK)) {
        const created = await trx
          .insertInto("run_inputs")
          .values(part)
          .onConflict((oc) => oc.columns(["run_uuid", "dataset_uuid"]).doNothing())
          .returning(["input_id", "dataset_uuid"])
          .execute();
        const tags = created.flatMap((row) =>
          (byDataset.get(row.dataset_uuid)?.tags ?? []).map((t) => ({ input_id: Number(row.input_id), key: t.key, value: t.value })),
        );
        for (const tagPart of chunks(tags, CHUNK)) await trx.insertInto("run_input_tags").values(tagPart).execute();
      }
    });
  }

  private async datasetIds(trx: Transaction<Database>, experiment: number, inputs: DatasetInput[]): Promise<Map<string, string>> {
    const names = [...new Set(inputs.map((i) => i.dataset.name))];
    const out = new Map<string, string>();
    for (const part of chunks(names, CHUNK)) {
      const rows = await trx
        .selectFrom("datasets")
        .select(["dataset_uuid", "name", "digest"])
        .where("experiment_id", "=", experiment)
        .where("name", "in", part)
        .execute();
      for (const r of rows) out.set(pairKey(r.name, r.digest), r.dataset_uuid);
    }
    return out;
  }

  /** The inputs of each run: links in the order they were made (by name and digest within one request), tags by key. */
  async forRuns(runIds: string[]): Promise<Map<string, DatasetInput[]>> {
    const out = new Map<string, DatasetInput[]>();
    if (runIds.length === 0) return out;
    const [links, tags] = await Promise.all([
      this.db
        .selectFrom("run_inputs as i")
        .innerJoin("datasets as d", "d.dataset_uuid", "i.dataset_uuid")
        .select([
          "i.input_id",
          "i.run_uuid",
          "d.name",
          "d.digest",
          "d.dataset_source_type",
          "d.dataset_source",
          "d.dataset_schema",
          "d.dataset_profile",
        ])
        .where("i.run_uuid", "in", runIds)
        .orderBy("i.input_id")
        .execute(),
      this.db
        .selectFrom("run_input_tags as t")
        .innerJoin("run_inputs as i", "i.input_id", "t.input_id")
        .select(["t.input_id", "t.key", "t.value"])
        .where("i.run_uuid", "in", runIds)
        .orderBy("t.input_id")
        .orderBy("t.key")
        .execute(),
    ]);
    if (links.length === 0) return out;
    const tagsOf = groupBy(tags, (t) => Number(t.input_id));
    for (const l of links) {
      const input: DatasetInput = {
        dataset: {
          name: l.name,
          digest: l.digest,
          sourceType: l.dataset_source_type,
          source: l.dataset_source,
          schema: l.dataset_schema,
          profile: l.dataset_profile,
        },
        tags: (tagsOf.get(Number(l.input_id)) ?? []).map(({ key, value }) => ({ key, value })),
      };
      const list = out.get(l.run_uuid);
      if (list === undefined) out.set(l.run_uuid, [input]);
      else list.push(input);
    }
    return out;
  }
}
