/**
 * The metadata backends a shared suite runs against. SQLite always; PostgreSQL when
 * FLYWHEEL_TEST_POSTGRES_URL is set (each suite gets its own schema, dropped afterwards).
 * With FLYWHEEL_REQUIRE_SERVICES=1 a missing URL fails instead of skipping.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { randomToken } from "../../src/core/ids.js";

export interface BackendCase {
  name: "sqlite" | "postgresql";
  /** Why this backend is skipped, or undefined when it runs. */
  skip: string | undefined;
  /** Makes a fresh, empty database and returns its URI and a cleanup function. */
  create(): Promise<{ uri: string; drop(): Promise<void> }>;
}

const required = process.env.FLYWHEEL_REQUIRE_SERVICES === "1";

/** Suites that need an external service, and the variable that turns each on. */
export const BACKEND_SUITES = [
  { what: "PostgreSQL", env: "FLYWHEEL_TEST_POSTGRES_URL" },
  { what: "Redis", env: "FLYWHEEL_TEST_REDIS_URL" },
  { what: "NATS JetStream", env: "FLYWHEEL_TEST_NATS_URL" },
] as const;

export function tempDir(prefix = "flywheel-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

function requireEnv(name: string, what: string): { value: string | undefined; skip: string | undefined } {
  const value = process.env[name];
  if (value !== undefined && value !== "") return { value, skip: undefined };
  if (required) throw new Error(`FLYWHEEL_REQUIRE_SERVICES=1 but ${name} is not set: the ${what} suite cannot run`);
  return { value: undefined, skip: `${name} is not set; set it (as .ci/run does) to run the ${what} suite` };
}

export function serviceUrl(name: string, what: string): { value: string | undefined; skip: string | undefined } {
  return requireEnv(name, what);
}

export const sqliteBackend: BackendCase = {
  name: "sqlite",
  skip: undefined,
  async create() {
    const dir = tempDir("flywheel-sqlite-");
    return { uri: `sqlite:///${join(dir.path, "meta.db")}`, drop: async () => dir.remove() };
  },
};

const pgEnv = requireEnv("FLYWHEEL_TEST_POSTGRES_URL", "PostgreSQL");

export const postgresBackend: BackendCase = {
  name: "postgresql",
  skip: pgEnv.skip,
  async create() {
    const base = pgEnv.value as string;
    const schema = `fw_test_${randomToken(6)}`;
    const sep = base.includes("?") ? "&" : "?";
    return {
      uri: `${base}${sep}schema=${schema}`,
      drop: async () => {
        const client = new pg.Client({ connectionString: base });
        await client.connect();
        try {
          await client.query(`drop schema if exists "${schema}" cascade`);
        } finally {
          await client.end();
        }
      },
    };
  },
};

export const metadataBackends: BackendCase[] = [sqliteBackend, postgresBackend];

/** A suite title that says why it is skipped, so the reason shows in the test report. */
export function titleOf(b: BackendCase): string {
  return b.skip === undefined ? b.name : `${b.name} (skipped: ${b.skip})`;
}
