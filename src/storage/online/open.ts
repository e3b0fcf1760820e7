/** Opens the online store a URI names: `sqlite:` (embedded default) or `redis://` / `rediss://`. */
import { UriRegistry } from "../../core/uri-registry.js";
import type { OnlineStore } from "./online-store.js";

export interface OnlineStoreOptions {
  /** Namespace inside the store, so several projects can share one database or Redis. */
  project: string;
}

async function openRedis(uri: string, options: OnlineStoreOptions): Promise<OnlineStore> {
  const { RedisOnlineStore } = await import("./redis/redis-online-store.js");
  return RedisOnlineStore.open(uri, options.project);
}

const registry = new UriRegistry<OnlineStore, OnlineStoreOptions>("online store")
  .register("sqlite", async (uri, options) => {
    const { SqliteOnlineStore } = await import("./sqlite/sqlite-online-store.js");
    return SqliteOnlineStore.open(uri, options.project);
  })
  .register("redis", openRedis)
  .register("rediss", openRedis);

/**
 * @example const store = await openOnlineStore("sqlite:///flywheel-data/online.db", { project: "default" });
 */
export function openOnlineStore(uri: string, options: OnlineStoreOptions): Promise<OnlineStore> {
  return registry.open(uri, options);
}

export const ONLINE_SCHEMES = registry.schemes();
