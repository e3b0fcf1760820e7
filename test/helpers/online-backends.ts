/**
 * The online-store backends a shared suite runs against. SQLite always; Redis when
 * FLYWHEEL_TEST_REDIS_URL is set (each case gets its own project prefix, whose keys are deleted
 * afterwards). With FLYWHEEL_REQUIRE_SERVICES=1 a missing URL fails instead of skipping.
 */
import { join } from "node:path";
import { Redis } from "ioredis";
import { randomToken } from "../../src/core/ids.js";
import { serviceUrl, tempDir } from "./backends.js";

export interface OnlineBackendCase {
  name: "sqlite" | "redis";
  /** Why this backend is skipped, or undefined when it runs. */
  skip: string | undefined;
  /** Makes a fresh, empty store location and returns its URI, project and a cleanup function. */
  create(): Promise<{ uri: string; project: string; drop(): Promise<void> }>;
}

export const sqliteOnlineBackend: OnlineBackendCase = {
  name: "sqlite",
  skip: undefined,
  async create() {
    const dir = tempDir("flywheel-online-");
    return {
      uri: `sqlite:///${join(dir.path, "online.db")}`,
      project: `p_${randomToken(4)}`,
      drop: async () => dir.remove(),
    };
  },
};

const redisEnv = serviceUrl("FLYWHEEL_TEST_REDIS_URL", "Redis");

export const redisBackend: OnlineBackendCase = {
  name: "redis",
  skip: redisEnv.skip,
  async create() {
    const uri = redisEnv.value as string;
    const project = `fw_test_${randomToken(6)}`;
    return {
      uri,
      project,
      drop: async () => {
        const client = new Redis(uri);
        try {
          let cursor = "0";
          do {
            const [next, keys] = await client.scan(cursor, "MATCH", `fw:{${project}:*`, "COUNT", 1000);
            cursor = next;
            if (keys.length > 0) await client.del(...keys);
          } while (cursor !== "0");
        } finally {
          await client.quit();
        }
      },
    };
  },
};

export const onlineBackends: OnlineBackendCase[] = [sqliteOnlineBackend, redisBackend];

/** A suite title that says why it is skipped, so the reason shows in the test report. */
export function onlineTitleOf(b: OnlineBackendCase): string {
  return b.skip === undefined ? b.name : `${b.name} (skipped: ${b.skip})`;
}
