/** Versioned migrations, applied in name order at start-up by Kysely's Migrator. */
import type { Migration, MigrationProvider } from "kysely";
import { migration0001 } from "./0001-tracking.js";

export function migrationProvider(backend: "sqlite" | "postgresql"): MigrationProvider {
  const migrations: Record<string, Migration> = {
    "0001-tracking": migration0001(backend),
  };
  return { getMigrations: () => Promise.resolve(migrations) };
}
