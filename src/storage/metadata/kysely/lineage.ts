/** The LineageStore on Kysely: typed edges in `lineage_edges`, one code path for SQLite and PostgreSQL. */
import { sql, type Kysely, type Transaction } from "kysely";
import type { LineageEdge, LineageNode, LineageNodeType, LineageStore } from "../lineage-store.js";
import type { Database, LineageEdgesTable } from "../schema.js";

type Db = Kysely<Database> | Transaction<Database>;

/** Rows per insert: 7 parameters each stays far below SQLite's and PostgreSQL's parameter limits. */
const CHUNK = 500;

function parseAttributes(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function toEdge(r: LineageEdgesTable): LineageEdge {
  return {
    src: { type: r.src_type as LineageNodeType, id: r.src_id },
    relation: r.relation,
    dst: { type: r.dst_type as LineageNodeType, id: r.dst_id },
    attributes: parseAttributes(r.attributes),
    createdTime: Number(r.created_time),
  };
}

function toRow(e: LineageEdge): LineageEdgesTable {
  return {
    src_type: e.src.type,
    src_id: e.src.id,
    relation: e.relation,
    dst_type: e.dst.type,
    dst_id: e.dst.id,
    attributes: JSON.stringify(e.attributes),
    created_time: e.createdTime,
  };
}

const rowKey = (r: LineageEdgesTable) => JSON.stringify([r.src_type, r.src_id, r.relation, r.dst_type, r.dst_id]);

async function insertIgnoringExisting(db: Db, rows: LineageEdgesTable[]): Promise<void> {
  // One statement may not name the same key twice; the first occurrence wins, as a later insert would.
  const seen = new Set<string>();
  const distinct = rows.filter((r) => {
    const k = rowKey(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  for (let i = 0; i < distinct.length; i += CHUNK) {
    await db
      .insertInto("lineage_edges")
      .values(distinct.slice(i, i + CHUNK))
      .onConflict((oc) => oc.columns(["src_type", "src_id", "relation", "dst_type", "dst_id"]).doNothing())
      .execute();
  }
}

export class LineageQueries implements LineageStore {
  constructor(private readonly db: Kysely<Database>) {}

  async addEdges(edges: LineageEdge[]): Promise<void> {
    if (edges.length === 0) return;
    await this.db.transaction().execute((trx) => insertIgnoringExisting(trx, edges.map(toRow)));
  }

  edgesFrom(node: LineageNode): Promise<LineageEdge[]> {
    return this.edgesAt("src", node);
  }

  edgesTo(node: LineageNode): Promise<LineageEdge[]> {
    return this.edgesAt("dst", node);
  }

  /** Edges with `node` at one end, ordered by time, relation and the other end. */
  private async edgesAt(end: "src" | "dst", node: LineageNode): Promise<LineageEdge[]> {
    const other = end === "src" ? "dst" : "src";
    const rows = await this.db
      .selectFrom("lineage_edges")
      .selectAll()
      .where(`${end}_type`, "=", node.type)
      .where(`${end}_id`, "=", node.id)
      .orderBy("created_time")
      .orderBy("relation")
      .orderBy(`${other}_type`)
      .orderBy(`${other}_id`)
      .execute();
    return rows.map(toEdge);
  }

  /**
   * Moves every `model_version` id `old/<v>` to `new/<v>`, at either end of an edge. An edge that
   * already exists under the new id (left by a deleted model of that name) is kept as it is.
   */
  async renameModel(oldName: string, newName: string): Promise<void> {
    if (oldName === newName) return;
    const prefix = `${oldName}/`;
    // substr counts characters on both backends; startsWith below re-checks in JavaScript.
    const chars = [...prefix].length;
    const renamed = (type: string, id: string) => (type === "model_version" && id.startsWith(prefix) ? `${newName}/${id.slice(prefix.length)}` : id);
    await this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom("lineage_edges")
        .selectAll()
        .where((eb) =>
          eb.or([
            eb.and([eb("src_type", "=", "model_version"), eb(sql<string>`substr(src_id, 1, ${chars})`, "=", prefix)]),
            eb.and([eb("dst_type", "=", "model_version"), eb(sql<string>`substr(dst_id, 1, ${chars})`, "=", prefix)]),
          ]),
        )
        .execute();
      const moving = rows.filter((r) => renamed(r.src_type, r.src_id) !== r.src_id || renamed(r.dst_type, r.dst_id) !== r.dst_id);
      if (moving.length === 0) return;
      for (const r of moving) {
        await trx
          .deleteFrom("lineage_edges")
          .where("src_type", "=", r.src_type)
          .where("src_id", "=", r.src_id)
          .where("relation", "=", r.relation)
          .where("dst_type", "=", r.dst_type)
          .where("dst_id", "=", r.dst_id)
          .execute();
      }
      await insertIgnoringExisting(
        trx,
        moving.map((r) => ({ ...r, src_id: renamed(r.src_type, r.src_id), dst_id: renamed(r.dst_type, r.dst_id), created_time: Number(r.created_time) })),
      );
    });
  }

  async forgetModelVersions(name: string, version?: string): Promise<void> {
    if (version !== undefined) {
      const id = `${name}/${version}`;
      await this.db
        .deleteFrom("lineage_edges")
        .where((eb) => eb.or([eb.and([eb("src_type", "=", "model_version"), eb("src_id", "=", id)]), eb.and([eb("dst_type", "=", "model_version"), eb("dst_id", "=", id)])]))
        .execute();
      return;
    }
    const prefix = `${name}/`;
    const chars = [...prefix].length;
    // A version id is `<name>/<digits>`: the suffix check keeps `a/b`-like names of other models out.
    const rest = sql<string>`substr(src_id, ${chars + 1})`;
    const restDst = sql<string>`substr(dst_id, ${chars + 1})`;
    await this.db
      .deleteFrom("lineage_edges")
      .where((eb) =>
        eb.or([
          eb.and([eb("src_type", "=", "model_version"), eb(sql<string>`substr(src_id, 1, ${chars})`, "=", prefix), eb(rest, "not like", "%/%")]),
          eb.and([eb("dst_type", "=", "model_version"), eb(sql<string>`substr(dst_id, 1, ${chars})`, "=", prefix), eb(restDst, "not like", "%/%")]),
        ]),
      )
      .execute();
  }
}
