/** Opens the metadata store a URI names: `sqlite:` (embedded) or `postgresql://`. */
import { UriRegistry } from "../../core/uri-registry.js";
import type { MetadataStore } from "./metadata-store.js";

const registry = new UriRegistry<MetadataStore>("metadata store")
  .register("sqlite", async (uri) => {
    const [{ openSqlite }, { KyselyMetadataStore }] = await Promise.all([
      import("./sqlite/open.js"),
      import("./kysely/kysely-metadata-store.js"),
    ]);
    return KyselyMetadataStore.open(openSqlite(uri), "sqlite");
  })
  .register("postgresql", openPg)
  .register("postgres", openPg);

async function openPg(uri: string): Promise<MetadataStore> {
  const [{ openPostgres }, { KyselyMetadataStore }] = await Promise.all([
    import("./postgres/open.js"),
    import("./kysely/kysely-metadata-store.js"),
  ]);
  return KyselyMetadataStore.open(await openPostgres(uri), "postgresql");
}

export function openMetadataStore(uri: string): Promise<MetadataStore> {
  return registry.open(uri, {});
}

export const METADATA_SCHEMES = registry.schemes();
