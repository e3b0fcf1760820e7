/**
 * The floor bench:online measures Flywheel's feature server against: a bare `node:http` server
 * that takes the same Feast JSON request (`POST /get-online-features` with `features` as
 * `view:feature` and one join key in `entities`), reads the same online store through the same
 * `OnlineStore` port, and answers the same response shape. No registry, no validation beyond
 * what is needed to call the store: the lowest cost of "HTTP + store read" on this machine.
 *
 * Usage: node dist/bench/online-floor.js <online-store-uri> <project>; prints
 * "listening on http://127.0.0.1:<port>" once the store is open.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { openOnlineStore } from "../src/storage/online/open.js";
import type { OnlineStore } from "../src/storage/online/online-store.js";

interface Request {
  features: string[];
  entities: Record<string, (string | number)[]>;
}

interface Column {
  values: unknown[];
  statuses: string[];
  event_timestamps: string[];
}

const EPOCH = "1970-01-01T00:00:00Z";
const iso = (ms: number | null): string => (ms === null ? EPOCH : new Date(ms).toISOString().replace(/\.000Z$/, "Z"));

async function answer(store: OnlineStore, text: string): Promise<unknown> {
  const req = JSON.parse(text) as Request;
  const [joinKey, ids] = Object.entries(req.entities)[0] ?? [];
  if (joinKey === undefined || ids === undefined) throw new Error("no entities");
  const keys = ids.map((id) => ({ [joinKey]: id }));
  // Features grouped by view, one store read per view.
  const byView = new Map<string, string[]>();
  for (const ref of req.features) {
    const colon = ref.indexOf(":");
    const view = ref.slice(0, colon);
    const list = byView.get(view) ?? [];
    list.push(ref.slice(colon + 1));
    byView.set(view, list);
  }
  const names = [joinKey];
  const results: Column[] = [{ values: ids, statuses: ids.map(() => "PRESENT"), event_timestamps: ids.map(() => EPOCH) }];
  for (const [view, features] of byView) {
    const rows = await store.read(view, keys, features);
    // Every feature of a stored row carries the row's event time: one timestamp text per row.
    const first = features[0] ?? "";
    const times = rows.map((r) => iso(r[first]?.eventTs ?? null));
    for (const f of features) {
      names.push(f);
      results.push({ values: rows.map((r) => r[f]?.value ?? null), statuses: rows.map((r) => r[f]?.status ?? "NOT_FOUND"), event_timestamps: times });
    }
  }
  return { metadata: { feature_names: names }, results };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function main(): Promise<void> {
  const [uri, project] = process.argv.slice(2);
  if (uri === undefined || project === undefined) throw new Error("usage: online-floor.js <online-store-uri> <project>");
  const store = await openOnlineStore(uri, { project });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      answer(store, Buffer.concat(chunks).toString("utf8")).then(
        (body) => send(res, 200, body),
        (e: unknown) => send(res, 500, { error: e instanceof Error ? e.message : String(e) }),
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`floor listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    store.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
