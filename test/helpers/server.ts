/** Starts a real Flywheel server on a free port with temporary stores, for HTTP tests. */
import { join } from "node:path";
import { loadConfig } from "../../src/core/config.js";
import { startServer, type RunningServer, type StartOptions } from "../../src/server/start.js";
import { tempDir, type BackendCase } from "./backends.js";

export interface TestServer extends RunningServer {
  dataDir: string;
  metadataUri: string;
  /** fetch() against the server; JSON bodies are serialized. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  stop(): Promise<void>;
}

export async function startTestServer(
  backend: BackendCase,
  extra: { bodyLimit?: number; streamUri?: string; featureProject?: string; inferenceLog?: StartOptions["inferenceLog"] } = {},
): Promise<TestServer> {
  const dir = tempDir("flywheel-server-");
  const db = await backend.create();
  const cfg = loadConfig({
    flags: { port: 0, dataDir: dir.path, metadataUri: db.uri, artifactsUri: join(dir.path, "artifacts"), bodyLimit: extra.bodyLimit, streamUri: extra.streamUri, featureProject: extra.featureProject },
    env: {},
    file: join(dir.path, "none.yaml"),
  });
  const server = await startServer(cfg, undefined, undefined, extra.inferenceLog === undefined ? {} : { inferenceLog: extra.inferenceLog });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  };
  return {
    ...server,
    dataDir: dir.path,
    metadataUri: db.uri,
    call,
    async stop() {
      await server.close();
      await db.drop();
      dir.remove();
    },
  };
}
