/**
 * A Flywheel server on a free port with temporary SQLite and artifact stores, for the serving
 * tests: models are registered through the MLflow API, as a user would, then served over V2/V1.
 * Also an encoder and decoder for the binary tensor data extension written independently of the
 * server's, so the tests check the server against the extension's layout rather than itself.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { expect } from "vitest";
import { renderMlmodel } from "../../src/models/mlmodel.js";
import { signatureFromGraph } from "../../src/models/signature.js";
import { buildOnnxModel, tensorInfo } from "../../src/onnx/builder.js";
import { inspectOnnx, type TensorDtype } from "../../src/onnx/inspect.js";
import { buildApp } from "../../src/server/app.js";
import type { ArtifactStore } from "../../src/storage/artifacts/artifact-store.js";
import { openArtifactStore } from "../../src/storage/artifacts/open.js";
import type { MetadataStore } from "../../src/storage/metadata/metadata-store.js";
import { openMetadataStore } from "../../src/storage/metadata/open.js";
import { tempDir } from "../helpers/backends.js";
import { uploadToRun } from "../helpers/model-package.js";

const FIXTURES = new URL("../../../shared/fixtures/models/", import.meta.url);
export const API = "/api/2.0/mlflow";
export const FIXTURE_MODELS = ["iris_logreg", "breast_cancer_rf", "diabetes_gbr", "mlp_8x16x3"] as const;

export interface Fixture {
  input: string;
  outputs: string[];
  inputs: number[][];
  expected: Record<string, unknown[]>;
}

export const fixture = (name: string) => ({
  onnx: readFileSync(new URL(`${name}.onnx`, FIXTURES)),
  expected: JSON.parse(readFileSync(new URL(`${name}.expected.json`, FIXTURES), "utf8")) as Fixture,
});

/** An MLmodel whose signature is read from the graph, as `flywheel models log --signature auto` writes it. */
export async function mlmodelFor(onnx: Uint8Array): Promise<string> {
  return renderMlmodel({
    artifactPath: "model",
    flavors: { onnx: { data: "model.onnx", code: null, onnx_version: "1.17.0" } },
    signature: signatureFromGraph(await inspectOnnx(onnx)),
  });
}

/** Every element within relative error 1e-5 of the reference (exact zeros within 1e-7). */
export function expectClose(actual: unknown, expected: unknown, where: string): void {
  const a = [actual].flat(Infinity) as number[];
  const e = [expected].flat(Infinity) as number[];
  expect(a.length, where).toBe(e.length);
  e.forEach((x, i) => {
    const y = a[i] as number;
    const err = x === 0 ? Math.abs(y) : Math.abs(y - x) / Math.abs(x);
    if (!(err < (x === 0 ? 1e-7 : 1e-5))) expect.fail(`${where}[${i}]: got ${y}, expected ${x} (error ${err})`);
  });
}

/** Every element type ONNX Runtime takes, in the order the Identity model lists them. */
export const IDENTITY_DTYPES: TensorDtype[] = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64", "string"];

/** `y_<dtype> = Identity(x_<dtype>)` for every dtype, each [N], plus `m_out = Identity(m)` with m FP32 [N, 2]. */
export function identityOnnx(): Uint8Array {
  return buildOnnxModel({
    graph: {
      name: "identity",
      nodes: [...IDENTITY_DTYPES.map((d) => ({ opType: "Identity", inputs: [`x_${d}`], outputs: [`y_${d}`] })), { opType: "Identity", inputs: ["m"], outputs: ["m_out"] }],
      inputs: [...IDENTITY_DTYPES.map((d) => tensorInfo(`x_${d}`, d, ["N"])), tensorInfo("m", "float32", ["N", 2])],
      outputs: [...IDENTITY_DTYPES.map((d) => tensorInfo(`y_${d}`, d, ["N"])), tensorInfo("m_out", "float32", ["N", 2])],
    },
  });
}

export interface Answer {
  status: number;
  json: any;
  headers: Headers;
  body: Buffer;
}

export interface ServingServer {
  url: string;
  app: FastifyInstance;
  /** A request with a JSON body (strings are sent as they are); the answer's body parsed as JSON when it is JSON. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  /** A request with raw bytes. */
  send(method: string, path: string, body: Uint8Array, headers: Record<string, string>): Promise<Answer>;
  /** Uploads a package into the test run and registers it as the next version of `name`. */
  register(name: string, onnx: Uint8Array, mlmodel?: string): Promise<any>;
  setAlias(name: string, alias: string, version: string): Promise<void>;
  close(): Promise<void>;
}

async function answerOf(res: Response): Promise<Answer> {
  const body = Buffer.from(await res.arrayBuffer());
  let json: any;
  const text = body.toString("utf8");
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers, body };
}

/**
 * `runtimeThread`: run ONNX Runtime on a second thread too, as `flywheel server` does (buildApp's
 * default is off); `intraOpNumThreads`: ONNX Runtime's threads per operator (default 1).
 */
export async function startServingServer(options: { runtimeThread?: boolean; intraOpNumThreads?: number } = {}): Promise<ServingServer> {
  const dir = tempDir("flywheel-serving-");
  let metadata: MetadataStore | undefined;
  let artifacts: ArtifactStore | undefined;
  let app: FastifyInstance | undefined;
  const close = async () => {
    await app?.close();
    await artifacts?.close();
    await metadata?.close();
    dir.remove();
  };
  try {
    metadata = await openMetadataStore(`sqlite:///${join(dir.path, "meta.db")}`);
    artifacts = await openArtifactStore(join(dir.path, "artifacts"));
    app = await buildApp({ metadata, artifacts, ...options });
    await app.listen({ host: "127.0.0.1", port: 0 });
  } catch (e) {
    await close();
    throw e;
  }
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === "object" && addr !== null ? addr.port : 0}`;
  const send = async (method: string, path: string, body: Uint8Array, headers: Record<string, string>) =>
    answerOf(await fetch(`${url}${path}`, { method, body, headers }));
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = { "content-type": "application/json" }) =>
    answerOf(await fetch(`${url}${path}`, { method, ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body), headers } : {}) }));
  const exp = await call("POST", `${API}/experiments/create`, { name: "serving" });
  const run = await call("POST", `${API}/runs/create`, { experiment_id: exp.json.experiment_id });
  const runId: string = run.json.run.info.run_id;
  const artifactUri: string = run.json.run.info.artifact_uri;
  let packages = 0;
  return {
    url,
    app,
    call,
    send,
    async register(name, onnx, mlmodel) {
      const dirName = `pkg${++packages}`;
      await uploadToRun(url, artifactUri, { [`${dirName}/MLmodel`]: mlmodel ?? (await mlmodelFor(onnx)), [`${dirName}/model.onnx`]: onnx });
      const exists = await call("GET", `${API}/registered-models/get?name=${encodeURIComponent(name)}`);
      if (exists.status === 404) expect((await call("POST", `${API}/registered-models/create`, { name })).status).toBe(200);
      const created = await call("POST", `${API}/model-versions/create`, { name, source: `${artifactUri}/${dirName}`, run_id: runId });
      expect(created.status).toBe(200);
      return created.json.model_version;
    },
    async setAlias(name, alias, version) {
      const res = await call("POST", `${API}/registered-models/alias`, { name, alias, version });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
    },
    close,
  };
}

// ---- The binary tensor data extension, from the client's side ---------------------------------

type Scalar = number | bigint | boolean | string;

/** Little-endian bytes of `values` as `datatype` (FP16 values are given as raw bits). */
export function tensorBytes(datatype: string, values: readonly Scalar[]): Buffer {
  if (datatype === "BYTES") {
    return Buffer.concat(
      values.flatMap((v) => {
        const bytes = Buffer.from(String(v), "utf8");
        const length = Buffer.alloc(4);
        length.writeUInt32LE(bytes.length, 0);
        return [length, bytes];
      }),
    );
  }
  const width: Record<string, number> = { BOOL: 1, INT8: 1, UINT8: 1, INT16: 2, UINT16: 2, FP16: 2, INT32: 4, UINT32: 4, FP32: 4, INT64: 8, UINT64: 8, FP64: 8 };
  const w = width[datatype];
  if (w === undefined) throw new Error(`no binary layout for ${datatype}`);
  const out = Buffer.alloc(values.length * w);
  values.forEach((v, i) => {
    const at = i * w;
    switch (datatype) {
      case "BOOL": out.writeUInt8(v ? 1 : 0, at); break;
      case "INT8": out.writeInt8(Number(v), at); break;
      case "UINT8": out.writeUInt8(Number(v), at); break;
      case "INT16": out.writeInt16LE(Number(v), at); break;
      case "UINT16": case "FP16": out.writeUInt16LE(Number(v), at); break;
      case "INT32": out.writeInt32LE(Number(v), at); break;
      case "UINT32": out.writeUInt32LE(Number(v), at); break;
      case "FP32": out.writeFloatLE(Number(v), at); break;
      case "INT64": out.writeBigInt64LE(BigInt(v), at); break;
      case "UINT64": out.writeBigUInt64LE(BigInt(v), at); break;
      case "FP64": out.writeDoubleLE(Number(v), at); break;
    }
  });
  return out;
}

/** Reads `bytes` as `datatype` elements (INT64/UINT64 as bigint, FP16 as raw bits, BOOL as booleans). */
export function tensorValues(datatype: string, bytes: Buffer): Scalar[] {
  const out: Scalar[] = [];
  if (datatype === "BYTES") {
    for (let at = 0; at < bytes.length; ) {
      const n = bytes.readUInt32LE(at);
      out.push(bytes.subarray(at + 4, at + 4 + n).toString("utf8"));
      at += 4 + n;
    }
    return out;
  }
  const read: Record<string, [number, (at: number) => Scalar]> = {
    BOOL: [1, (at) => bytes.readUInt8(at) === 1],
    INT8: [1, (at) => bytes.readInt8(at)],
    UINT8: [1, (at) => bytes.readUInt8(at)],
    INT16: [2, (at) => bytes.readInt16LE(at)],
    UINT16: [2, (at) => bytes.readUInt16LE(at)],
    FP16: [2, (at) => bytes.readUInt16LE(at)],
    INT32: [4, (at) => bytes.readInt32LE(at)],
    UINT32: [4, (at) => bytes.readUInt32LE(at)],
    FP32: [4, (at) => bytes.readFloatLE(at)],
    INT64: [8, (at) => bytes.readBigInt64LE(at)],
    UINT64: [8, (at) => bytes.readBigUInt64LE(at)],
    FP64: [8, (at) => bytes.readDoubleLE(at)],
  };
  const r = read[datatype];
  if (r === undefined) throw new Error(`no binary layout for ${datatype}`);
  for (let at = 0; at < bytes.length; at += r[0]) out.push(r[1](at));
  return out;
}

/** A binary request: the JSON header, its length header, then the parts in order. */
export function binaryBody(header: unknown, parts: readonly Uint8Array[], contentType = "application/octet-stream"): { body: Buffer; headers: Record<string, string> } {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  return {
    body: Buffer.concat([json, ...parts]),
    headers: { "content-type": contentType, "inference-header-content-length": String(json.length) },
  };
}

/** A response's JSON header and each binary output's bytes by name (JSON answers have none). */
export function splitAnswer(res: Answer): { json: any; parts: Record<string, Buffer> } {
  const length = res.headers.get("inference-header-content-length");
  if (length === null) return { json: res.json, parts: {} };
  const n = Number(length);
  const json = JSON.parse(res.body.subarray(0, n).toString("utf8"));
  const parts: Record<string, Buffer> = {};
  let at = n;
  for (const o of json.outputs as { name: string; parameters?: { binary_data_size?: number } }[]) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    parts[o.name] = res.body.subarray(at, at + size);
    at += size;
  }
  expect(at, "binary parts fill the rest of the body").toBe(res.body.length);
  return { json, parts };
}
