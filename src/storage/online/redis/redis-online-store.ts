/**
 * Redis online store. One hash per entity, `fw:{<project>:<entity key>}`: the braces are a hash
 * tag, so a Redis Cluster shards by entity and every view of an entity lives in one slot. Fields
 * are `<view>:<feature>` (JSON values), `<view>:__ts__` and `<view>:__created_ts__`.
 */
import { Redis } from "ioredis";
import { FlywheelError } from "../../../core/errors.js";
import { checkName } from "../names.js";
import type {
  EntityKey,
  FeatureValue,
  OnlineEntityResult,
  OnlineReadOptions,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteRow,
} from "../online-store.js";
import { entityResult, maxAgeCutoff, prepareRead, prepareWrite } from "../prepare.js";
import { decodeValue, encodeValue } from "../value-codec.js";

const TS = "__ts__";
const CREATED = "__created_ts__";

// Newer-wins and the replacement of the view's old fields happen in one script, so concurrent
// writers from any number of processes cannot interleave between the check and the write.
// KEYS[1] entity hash; ARGV: view prefix "<view>:", eventTs, createdTs, then field/value pairs.
const WRITE_ROW = `
local prefix = ARGV[1]
local ev = tonumber(ARGV[2])
local cr = tonumber(ARGV[3])
local prev = redis.call('HMGET', KEYS[1], prefix .. '${TS}', prefix .. '${CREATED}')
if prev[1] then
  local pev = tonumber(prev[1])
  local pcr = tonumber(prev[2]) or 0
  if ev < pev or (ev == pev and cr <= pcr) then return 0 end
  local old = {}
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(f, 1, #prefix) == prefix then old[#old + 1] = f end
  end
  for i = 1, #old, 1000 do
    redis.call('HDEL', KEYS[1], unpack(old, i, math.min(i + 999, #old)))
  end
end
redis.call('HSET', KEYS[1], prefix .. '${TS}', ARGV[2], prefix .. '${CREATED}', ARGV[3])
for i = 4, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1`;

// Drops one view's fields from an entity hash (the hash disappears with its last field).
// KEYS[1] entity hash; ARGV[1] view prefix.
const DELETE_VIEW_FIELDS = `
local prefix = ARGV[1]
local old = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, #prefix) == prefix then old[#old + 1] = f end
end
for i = 1, #old, 1000 do
  redis.call('HDEL', KEYS[1], unpack(old, i, math.min(i + 999, #old)))
end
return #old`;

interface ScriptCommands {
  fwWriteRow(key: string, ...args: string[]): Promise<number>;
  fwDeleteViewFields(key: string, prefix: string): Promise<number>;
}

type ScriptedRedis = Redis & ScriptCommands;

/** Rows per pipeline: bounds client memory for very large batches while keeping round trips few. */
const PIPELINE_ROWS = 1000;

export class RedisOnlineStore implements OnlineStore {
  readonly scheme = "redis";
  readonly capabilities: OnlineStoreCapabilities = {
    sharedAcrossHosts: true,
    atomicBatchWrites: false,
    shardsByEntity: true,
  };

  private constructor(
    private readonly client: ScriptedRedis,
    private readonly project: string,
  ) {}

  /** Connects to the server a `redis://` or `rediss://` URI names and checks it answers. */
  static async open(uri: string, project: string): Promise<RedisOnlineStore> {
    checkName(project, "project");
    const client = new Redis(uri, { lazyConnect: true, maxRetriesPerRequest: 2 });
    // ioredis sends EVALSHA and falls back to EVAL once when the server lacks the script.
    // Connection errors surface through the commands that fail; without a listener ioredis would
    // also print every reconnect attempt.
    client.on("error", () => undefined);
    client.defineCommand("fwWriteRow", { numberOfKeys: 1, lua: WRITE_ROW });
    client.defineCommand("fwDeleteViewFields", { numberOfKeys: 1, lua: DELETE_VIEW_FIELDS });
    try {
      await client.connect();
    } catch (e) {
      client.disconnect();
      throw new FlywheelError(
        "FW_STORAGE_UNAVAILABLE",
        `Cannot reach the Redis online store at '${redactedUri(uri)}': ${(e as Error).message}`,
        { cause: e },
      );
    }
    return new RedisOnlineStore(client as ScriptedRedis, project);
  }

  private hashKey(entityKey: string): string {
    return `fw:{${this.project}:${entityKey}}`;
  }

  async write(view: string, rows: readonly OnlineWriteRow[]): Promise<void> {
    const prepared = prepareWrite(view, rows);
    const prefix = `${view}:`;
    for (let start = 0; start < prepared.length; start += PIPELINE_ROWS) {
      const pipeline = this.client.pipeline() as ReturnType<Redis["pipeline"]> & {
        fwWriteRow(key: string, ...args: string[]): unknown;
      };
      for (const r of prepared.slice(start, start + PIPELINE_ROWS)) {
        const args = [prefix, String(r.eventTs), String(r.createdTs)];
        for (const [name, v] of Object.entries(r.values)) {
          if (v !== undefined) args.push(prefix + name, encodeValue(v, `'${r.key}'.${name}`));
        }
        pipeline.fwWriteRow(this.hashKey(r.key), ...args);
      }
      await this.exec(pipeline, `write to view '${view}'`);
    }
  }

  async read(
    view: string,
    entityKeys: readonly EntityKey[],
    features: readonly string[],
    options?: OnlineReadOptions,
  ): Promise<OnlineEntityResult[]> {
    const keys = prepareRead(view, entityKeys, features);
    const cutoff = maxAgeCutoff(options);
    if (keys.length === 0) return [];
    const fields = [`${view}:${TS}`, ...features.map((f) => `${view}:${f}`)];
    const pipeline = this.client.pipeline();
    for (const key of keys) pipeline.hmget(this.hashKey(key), ...fields);
    const replies = await this.exec(pipeline, `read from view '${view}'`);
    return replies.map((reply) => {
      const values = reply as (string | null)[];
      const ts = values[0];
      if (ts === null || ts === undefined) return entityResult(undefined, features, cutoff);
      const byFeature = new Map<string, FeatureValue>();
      features.forEach((f, i) => {
        const text = values[i + 1];
        if (text !== null && text !== undefined) byFeature.set(f, decodeValue(text));
      });
      return entityResult({ eventTs: Number(ts), get: (f) => byFeature.get(f) }, features, cutoff);
    });
  }

  /**
   * SCANs the project's entity hashes and drops the view's fields from each. On a single node
   * this sees every key; a Redis Cluster would need the scan repeated on each master.
   */
  async deleteView(view: string): Promise<void> {
    checkName(view, "feature view");
    // Project names exclude the glob characters * ? [ ] \, so the pattern needs no escaping.
    const match = `fw:{${this.project}:*`;
    let cursor = "0";
    do {
      const [next, keys] = await this.client.scan(cursor, "MATCH", match, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) {
        const pipeline = this.client.pipeline() as ReturnType<Redis["pipeline"]> & {
          fwDeleteViewFields(key: string, prefix: string): unknown;
        };
        for (const key of keys) pipeline.fwDeleteViewFields(key, `${view}:`);
        await this.exec(pipeline, `delete view '${view}'`);
      }
    } while (cursor !== "0");
  }

  async close(): Promise<void> {
    if (this.client.status === "end") return;
    await this.client.quit();
  }

  /** Runs a pipeline; the first failed command fails the call, with the driver error as cause. */
  private async exec(pipeline: ReturnType<Redis["pipeline"]>, what: string): Promise<unknown[]> {
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (e) {
      throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Redis online store: ${what} failed: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (results === null) {
      throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Redis online store: ${what} was aborted`);
    }
    return results.map(([err, value]) => {
      if (err !== null) {
        throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Redis online store: ${what} failed: ${err.message}`, {
          cause: err,
        });
      }
      return value;
    });
  }
}

/** The URI without its password, for error messages. */
function redactedUri(uri: string): string {
  try {
    const u = new URL(uri);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "<unparseable URI>";
  }
}
