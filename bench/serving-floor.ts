/**
 * The floor bench:serving measures Flywheel's model server against: a bare `node:http` server
 * that takes the same V2 JSON request (`POST /v2/models/<name>/infer`), builds the same float32
 * tensor, runs one ONNX Runtime session per model (the session options the model server uses)
 * and answers V2 JSON. No registry, no validation beyond what is needed to build the tensor.
 *
 * Usage: node dist/bench/serving-floor.js <name>=<model.onnx> [...]; prints
 * "listening on http://127.0.0.1:<port>" once every session is loaded.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as ort from "onnxruntime-node";

interface Served {
  session: ort.InferenceSession;
  input: string;
  outputs: readonly string[];
}

interface V2Request {
  id?: unknown;
  inputs?: { name?: unknown; shape?: unknown; datatype?: unknown; data?: unknown }[];
}

const INFER = /^\/v2\/models\/([^/]+)\/infer$/;

async function loadModels(args: readonly string[]): Promise<Map<string, Served>> {
  const models = new Map<string, Served>();
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq <= 0) throw new Error(`expected <name>=<model.onnx>, got '${arg}'`);
    const session = await ort.InferenceSession.create(readFileSync(arg.slice(eq + 1)), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
    const [input] = session.inputNames;
    if (input === undefined || session.inputNames.length !== 1) throw new Error(`${arg}: the floor serves single-input models only`);
    models.set(arg.slice(0, eq), { session, input, outputs: session.outputNames });
  }
  return models;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** A runtime output as V2 JSON data: int64 as numbers, floats as numbers. */
function jsonData(t: ort.Tensor): number[] {
  const data = t.data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (v) => Number(v));
  if (typeof data[0] === "string") throw new Error("string outputs are not served by the floor");
  return Array.from(data as ArrayLike<number>);
}

async function answer(models: Map<string, Served>, url: string, text: string): Promise<{ status: number; body: unknown }> {
  const match = INFER.exec(url);
  const name = match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
  const model = name === undefined ? undefined : models.get(name);
  if (name === undefined || model === undefined) return { status: 404, body: { error: `no model at ${url}` } };
  let request: V2Request;
  try {
    request = JSON.parse(text) as V2Request;
  } catch (e) {
    return { status: 400, body: { error: `malformed JSON: ${(e as Error).message}` } };
  }
  const input = request.inputs?.[0];
  if (input === undefined || input.datatype !== "FP32" || !Array.isArray(input.shape) || !Array.isArray(input.data)) {
    return { status: 400, body: { error: "expected one FP32 input with shape and data" } };
  }
  const shape = input.shape as number[];
  const values = (input.data as unknown[]).flat(Infinity) as number[];
  if (values.length !== shape.reduce((n, d) => n * d, 1)) return { status: 400, body: { error: "data does not match shape" } };
  const results = await model.session.run({ [model.input]: new ort.Tensor("float32", Float32Array.from(values), shape) }, [...model.outputs]);
  const outputs = model.outputs.map((o) => {
    const t = results[o];
    if (t === undefined) throw new Error(`no output '${o}'`);
    return { name: o, shape: [...t.dims], datatype: t.type === "int64" ? "INT64" : "FP32", data: jsonData(t) };
  });
  return { status: 200, body: { model_name: name, model_version: "1", ...(typeof request.id === "string" ? { id: request.id } : {}), outputs } };
}

async function main(): Promise<void> {
  const models = await loadModels(process.argv.slice(2));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      answer(models, req.url ?? "", Buffer.concat(chunks).toString("utf8")).then(
        ({ status, body }) => send(res, status, body),
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
    Promise.all([...models.values()].map((m) => m.session.release())).then(
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
