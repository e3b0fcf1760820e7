/** Versioned migrations, applied in name order at start-up by Kysely's Migrator. */
import type { Migration, MigrationProvider } from "kysely";
import { migration0001 } from "./0001-tracking.js";
import { migration0002 } from "./0002-registry.js";
import { migration0003 } from "./0003-governance-lineage.js";
import { migration0004 } from "./0004-model-revision.js";
import { migration0005 } from "./0005-features.js";
import { migration0006 } from "./0006-monitoring.js";
import { migration0007 } from "./0007-run-inputs.js";
import { migration0008 } from "./0008-logged-models.js";

export function migrationProvider(backend: "sqlite" | "postgresql"): MigrationProvider {
  const migrations: Record<string, Migration> = {
    "0001-tracking": migration0001(backend),
    "0002-registry": migration0002(backend),
    "0003-governance-lineage": migration0003(backend),
    "0004-model-revision": migration0004,
    "0005-features": migration0005(backend),
    "0006-monitoring": migration0006(backend),
    "0007-run-inputs": migration0007(backend),
    "0008-logged-models": migration0008(),
  };
  return { getMigrations: () => Promise.resolve(migrations) };
}
