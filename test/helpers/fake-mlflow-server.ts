/**
 * An in-memory server speaking the subset of MLflow's REST API 2.0 the client uses, built on
 * node:http, for tests. It records every request, answers in MLflow's JSON shapes (empty lists
 * omitted, non-finite metric values as "NaN"/"Infinity" strings) and can be told to answer an
 * endpoint differently or slowly.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** The raw path, without the query string (percent-encoding kept). */
  path: string;
  /** For /api/2.0/mlflow/ calls the endpoint (`runs/log-batch`); for the artifact proxy `mlflow-artifacts`. */
  endpoint: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Decoded JSON body for JSON requests, else undefined. */
  body: unknown;
  raw: Buffer;
}

export interface FakeAnswer {
  status: number;
  body?: unknown;
  /** Sent as is instead of `body`. */
  text?: string;
  /** Sent as is instead of `body`. */
  bytes?: Buffer;
  contentType?: string;
}

type Handler = (req: RecordedRequest) => FakeAnswer | undefined | Promise<FakeAnswer | undefined>;

interface Tag {
  key: string;
  value: string;
}
interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}
interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: "active" | "deleted";
  creation_time: number;
  last_update_time: number;
  tags: Map<string, string>;
}
interface Run {
  run_id: string;
  run_name: string;
  experiment_id: string;
  user_id: string;
  status: string;
  start_time: number;
  end_time: number | undefined;
  artifact_uri: string;
  lifecycle_stage: "active" | "deleted";
  metrics: Metric[];
  params: Map<string, string>;
  tags: Map<string, string>;
}

export interface FakeState {
  experiments: Map<string, Experiment>;
  runs: Map<string, Run>;
  /** Artifact proxy files by path (`1/<run>/artifacts/a.txt`). */
  artifacts: Map<string, Buffer>;
}

export interface FakeMlflowServer {
  baseUrl: string;
  requests: RecordedRequest[];
  state: FakeState;
  /** Requests to one endpoint (`runs/log-batch`, `mlflow-artifacts`, ...). */
  requestsTo(endpoint: string): RecordedRequest[];
  /** Answers `method endpoint` with `handler` first; when it returns undefined the fake answers. */
  override(method: string, endpoint: string, handler: Handler): void;
  /** Delays every answer of an endpoint by `ms`. */
  delay(endpoint: string, ms: number): void;
  /** The largest number of requests to an endpoint that were in flight at the same time. */
  maxInFlight(endpoint: string): number;
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (what: string): ApiError => new ApiError(404, "RESOURCE_DOES_NOT_EXIST", what);
const invalid = (what: string): ApiError => new ApiError(400, "INVALID_PARAMETER_VALUE", what);

function wireJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    return v;
  });
}

function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  return Number(v);
}

function tagList(m: Map<string, string>): Tag[] {
  return [...m].map(([key, value]) => ({ key, value }));
}

/** Omits empty lists, as MLflow's protobuf JSON does. */
function withList<T extends object>(obj: T, key: string, list: unknown[]): T {
  return list.length === 0 ? obj : { ...obj, [key]: list };
}

function experimentJson(e: Experiment): unknown {
  return withList(
    {
      experiment_id: e.experiment_id,
      name: e.name,
      artifact_location: e.artifact_location,
      lifecycle_stage: e.lifecycle_stage,
      creation_time: e.creation_time,
      last_update_time: e.last_update_time,
    },
    "tags",
    tagList(e.tags),
  );
}

function runInfoJson(r: Run): unknown {
  return {
    run_id: r.run_id,
    run_uuid: r.run_id,
    run_name: r.run_name,
    experiment_id: r.experiment_id,
    user_id: r.user_id,
    status: r.status,
    start_time: r.start_time,
    ...(r.end_time === undefined ? {} : { end_time: r.end_time }),
    artifact_uri: r.artifact_uri,
    lifecycle_stage: r.lifecycle_stage,
  };
}

function latestMetrics(r: Run): Metric[] {
  const latest = new Map<string, Metric>();
  for (const m of r.metrics) {
    const cur = latest.get(m.key);
    if (cur === undefined || m.step > cur.step || (m.step === cur.step && m.timestamp >= cur.timestamp)) {
      latest.set(m.key, m);
    }
  }
  return [...latest.values()];
}

function runJson(r: Run): unknown {
  let data: object = {};
  data = withList(data, "metrics", latestMetrics(r));
  data = withList(data, "params", tagList(r.params));
  data = withList(data, "tags", tagList(r.tags));
  return { info: runInfoJson(r), data };
}

function page<T>(
  items: T[],
  maxResults: unknown,
  token: unknown,
  defaultMax: number,
  cap: number,
): { items: T[]; next?: string } {
  const max = Math.min(maxResults === undefined ? defaultMax : Number(maxResults), cap);
  const offset = token === undefined || token === "" ? 0 : Number(Buffer.from(String(token), "base64").toString());
  if (!Number.isInteger(offset) || offset < 0) throw invalid("Invalid page token");
  const slice = items.slice(offset, offset + max);
  const nextOffset = offset + max;
  return nextOffset < items.length
    ? { items: slice, next: Buffer.from(String(nextOffset)).toString("base64") }
    : { items: slice };
}

function viewMatches(view: unknown, stage: "active" | "deleted"): boolean {
  if (view === "ALL") return true;
  if (view === "DELETED_ONLY") return stage === "deleted";
  return stage === "active";
}

export interface FakeServerOptions {
  /** Largest page any search answers with, whatever max_results asks (default: no cap). */
  maxPageSize?: number;
}

export async function startFakeMlflowServer(opts: FakeServerOptions = {}): Promise<FakeMlflowServer> {
  const cap = opts.maxPageSize ?? Number.POSITIVE_INFINITY;
  const state: FakeState = { experiments: new Map(), runs: new Map(), artifacts: new Map() };
  const requests: RecordedRequest[] = [];
  const overrides = new Map<string, Handler>();
  const delays = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  let nextExperimentId = 1;
  let runCounter = 0;
  state.experiments.set("0", {
    experiment_id: "0",
    name: "Default",
    artifact_location: "mlflow-artifacts:/0",
    lifecycle_stage: "active",
    creation_time: 1_700_000_000_000,
    last_update_time: 1_700_000_000_000,
    tags: new Map(),
  });

  const str = (body: Record<string, unknown>, field: string): string => {
    const v = body[field];
    if (typeof v !== "string" || v === "") throw invalid(`Missing value for required parameter '${field}'`);
    return v;
  };
  const experiment = (id: string): Experiment => {
    const e = state.experiments.get(id);
    if (e === undefined) throw notFound(`No Experiment with id=${id} exists`);
    return e;
  };
  const run = (id: string): Run => {
    const r = state.runs.get(id);
    if (r === undefined) throw notFound(`Run with id=${id} not found`);
    return r;
  };
  const activeRun = (id: string): Run => {
    const r = run(id);
    if (r.lifecycle_stage !== "active") throw invalid(`The run ${id} must be in the 'active' state.`);
    return r;
  };
  const logBatch = (r: Run, metrics: unknown[], params: unknown[], tags: unknown[]): void => {
    if (metrics.length > 1000) throw invalid(`A batch logging request can contain at most 1000 metrics. Got ${metrics.length}`);
    if (params.length > 100) throw invalid(`A batch logging request can contain at most 100 params. Got ${params.length}`);
    if (tags.length > 100) throw invalid(`A batch logging request can contain at most 100 tags. Got ${tags.length}`);
    const total = metrics.length + params.length + tags.length;
    if (total > 1000) throw invalid(`A batch logging request can contain at most 1000 items. Got ${total}`);
    for (const p of params as Tag[]) {
      const old = r.params.get(p.key);
      if (old !== undefined && old !== p.value) {
        throw invalid(`Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${old}'`);
      }
    }
    for (const m of metrics as Record<string, unknown>[]) {
      r.metrics.push({ key: String(m.key), value: num(m.value), timestamp: num(m.timestamp), step: num(m.step ?? 0) });
    }
    for (const p of params as Tag[]) r.params.set(p.key, p.value);
    for (const t of tags as Tag[]) r.tags.set(t.key, t.value);
  };

  const api = (method: string, endpoint: string, q: Record<string, string>, b: Record<string, unknown>): unknown => {
    const route = `${method} ${endpoint}`;
    switch (route) {
      case "POST experiments/create": {
        const name = str(b, "name");
        for (const e of state.experiments.values()) {
          if (e.name === name) throw new ApiError(400, "RESOURCE_ALREADY_EXISTS", `Experiment '${name}' already exists.`);
        }
        const id = String(nextExperimentId++);
        const now = Date.now();
        const tags = new Map<string, string>();
        for (const t of (b.tags as Tag[] | undefined) ?? []) tags.set(t.key, t.value);
        const location = typeof b.artifact_location === "string" && b.artifact_location !== "" ? b.artifact_location : `mlflow-artifacts:/${id}`;
        state.experiments.set(id, {
          experiment_id: id,
          name,
          artifact_location: location,
          lifecycle_stage: "active",
          creation_time: now,
          last_update_time: now,
          tags,
        });
        return { experiment_id: id };
      }
      case "GET experiments/get":
        return { experiment: experimentJson(experiment(q.experiment_id ?? "")) };
      case "GET experiments/get-by-name": {
        const name = q.experiment_name ?? "";
        for (const e of state.experiments.values()) if (e.name === name) return { experiment: experimentJson(e) };
        throw notFound(`Could not find experiment with name '${name}'`);
      }
      case "POST experiments/search": {
        const all = [...state.experiments.values()]
          .filter((e) => viewMatches(b.view_type, e.lifecycle_stage))
          .sort((x, y) => y.creation_time - x.creation_time || Number(y.experiment_id) - Number(x.experiment_id));
        const p = page(all, b.max_results, b.page_token, 1000, cap);
        return withList(p.next === undefined ? {} : { next_page_token: p.next }, "experiments", p.items.map(experimentJson));
      }
      case "POST experiments/update": {
        const e = experiment(str(b, "experiment_id"));
        e.name = str(b, "new_name");
        e.last_update_time = Date.now();
        return {};
      }
      case "POST experiments/delete":
      case "POST experiments/restore": {
        const e = experiment(str(b, "experiment_id"));
        const stage = endpoint.endsWith("delete") ? "deleted" : "active";
        e.lifecycle_stage = stage;
        for (const r of state.runs.values()) if (r.experiment_id === e.experiment_id) r.lifecycle_stage = stage;
        return {};
      }
      case "POST experiments/set-experiment-tag":
        experiment(str(b, "experiment_id")).tags.set(str(b, "key"), String(b.value ?? ""));
        return {};
      case "POST experiments/delete-experiment-tag": {
        const e = experiment(str(b, "experiment_id"));
        if (!e.tags.delete(str(b, "key"))) throw notFound(`No tag with name: ${String(b.key)}`);
        return {};
      }
      case "POST runs/create": {
        const e = experiment(str(b, "experiment_id"));
        if (e.lifecycle_stage !== "active") throw invalid(`The experiment ${e.experiment_id} must be in the 'active' state.`);
        const runId = randomBytes(16).toString("hex");
        runCounter++;
        const r: Run = {
          run_id: runId,
          run_name: typeof b.run_name === "string" && b.run_name !== "" ? b.run_name : `fake-run-${runCounter}`,
          experiment_id: e.experiment_id,
          user_id: typeof b.user_id === "string" ? b.user_id : "",
          status: "RUNNING",
          start_time: b.start_time === undefined ? Date.now() : num(b.start_time),
          end_time: undefined,
          artifact_uri: `${e.artifact_location}/${runId}/artifacts`,
          lifecycle_stage: "active",
          metrics: [],
          params: new Map(),
          tags: new Map(),
        };
        for (const t of (b.tags as Tag[] | undefined) ?? []) r.tags.set(t.key, t.value);
        r.tags.set("mlflow.runName", r.run_name);
        state.runs.set(runId, r);
        return { run: runJson(r) };
      }
      case "GET runs/get":
        return { run: runJson(run(q.run_id ?? "")) };
      case "POST runs/update": {
        const r = activeRun(str(b, "run_id"));
        if (typeof b.status === "string") r.status = b.status;
        if (b.end_time !== undefined) r.end_time = num(b.end_time);
        if (typeof b.run_name === "string") r.run_name = b.run_name;
        return { run_info: runInfoJson(r) };
      }
      case "POST runs/delete":
      case "POST runs/restore":
        run(str(b, "run_id")).lifecycle_stage = endpoint.endsWith("delete") ? "deleted" : "active";
        return {};
      case "POST runs/log-metric":
        logBatch(activeRun(str(b, "run_id")), [b], [], []);
        return {};
      case "POST runs/log-parameter":
        logBatch(activeRun(str(b, "run_id")), [], [b], []);
        return {};
      case "POST runs/set-tag":
        logBatch(activeRun(str(b, "run_id")), [], [], [b]);
        return {};
      case "POST runs/delete-tag": {
        const r = activeRun(str(b, "run_id"));
        if (!r.tags.delete(str(b, "key"))) throw notFound(`No tag with name: ${String(b.key)} in run with id ${r.run_id}`);
        return {};
      }
      case "POST runs/log-batch": {
        const r = activeRun(str(b, "run_id"));
        const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
        logBatch(r, list(b.metrics), list(b.params), list(b.tags));
        return {};
      }
      case "POST runs/search": {
        const ids = Array.isArray(b.experiment_ids) ? (b.experiment_ids as string[]) : [];
        let all = [...state.runs.values()]
          .filter((r) => ids.includes(r.experiment_id) && viewMatches(b.run_view_type, r.lifecycle_stage))
          .sort((x, y) => y.start_time - x.start_time);
        const order = Array.isArray(b.order_by) ? (b.order_by as string[]) : [];
        const m = /^metrics\.(\S+)\s*(ASC|DESC)?$/i.exec(order[0] ?? "");
        if (m !== null) {
          const key = m[1] ?? "";
          const sign = (m[2] ?? "ASC").toUpperCase() === "DESC" ? -1 : 1;
          const value = (r: Run): number => latestMetrics(r).find((x) => x.key === key)?.value ?? Number.NaN;
          all = all.sort((x, y) => sign * (value(x) - value(y)));
        }
        const p = page(all, b.max_results, b.page_token, 1000, cap);
        return withList(p.next === undefined ? {} : { next_page_token: p.next }, "runs", p.items.map(runJson));
      }
      case "GET metrics/get-history": {
        const r = run(q.run_id ?? "");
        const points = r.metrics.filter((x) => x.key === q.metric_key);
        const p = page(points, q.max_results, q.page_token, 25000, cap);
        return withList(p.next === undefined ? {} : { next_page_token: p.next }, "metrics", p.items);
      }
      case "GET artifacts/list": {
        const r = run(q.run_id ?? "");
        const root = r.artifact_uri.replace(/^mlflow-artifacts:\//, "");
        const dir = q.path === undefined || q.path === "" ? "" : `${q.path}/`;
        return { root_uri: r.artifact_uri, ...listDir(`${root}/${dir}`, dir) };
      }
      default:
        throw new ApiError(404, "ENDPOINT_NOT_FOUND", `No endpoint for ${method} /api/2.0/mlflow/${endpoint}`);
    }
  };

  const listDir = (prefix: string, relBase: string): { files?: unknown[] } => {
    const seen = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
    for (const [path, data] of state.artifacts) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf("/");
      const name = slash === -1 ? rest : rest.slice(0, slash);
      if (slash === -1) seen.set(name, { path: relBase + name, is_dir: false, file_size: data.length });
      else seen.set(name, { path: relBase + name, is_dir: true });
    }
    return withList({}, "files", [...seen.values()].sort((a, b) => (a.path < b.path ? -1 : 1)));
  };

  const proxy = (method: string, rawPath: string, q: Record<string, string>, raw: Buffer): FakeAnswer => {
    const prefix = "/api/2.0/mlflow-artifacts/artifacts";
    const rel = rawPath
      .slice(prefix.length)
      .split("/")
      .filter((s) => s !== "")
      .map((s) => decodeURIComponent(s))
      .join("/");
    if (method === "GET" && rel === "") {
      // Like MLflow's proxy, entries are named relative to the listed directory.
      const dir = q.path === undefined || q.path === "" ? "" : `${q.path}/`;
      return { status: 200, body: listDir(dir, "") };
    }
    if (method === "PUT") {
      state.artifacts.set(rel, raw);
      return { status: 200, body: {} };
    }
    if (method === "GET") {
      const data = state.artifacts.get(rel);
      if (data === undefined) throw notFound(`No artifact at '${rel}'`);
      return { status: 200, bytes: data, contentType: "application/octet-stream" };
    }
    if (method === "DELETE") {
      let found = false;
      for (const key of [...state.artifacts.keys()]) {
        if (key === rel || key.startsWith(`${rel}/`)) {
          state.artifacts.delete(key);
          found = true;
        }
      }
      if (!found) throw notFound(`No artifact at '${rel}'`);
      return { status: 200, body: {} };
    }
    throw new ApiError(404, "ENDPOINT_NOT_FOUND", `No endpoint for ${method} ${rawPath}`);
  };

  const send = (res: ServerResponse, answer: FakeAnswer): void => {
    if (answer.text !== undefined || answer.bytes !== undefined) {
      const data = answer.bytes ?? Buffer.from(answer.text ?? "", "utf8");
      res.writeHead(answer.status, { "Content-Type": answer.contentType ?? "text/plain", "Content-Length": data.length });
      res.end(data);
      return;
    }
    const data = Buffer.from(wireJson(answer.body ?? {}));
    res.writeHead(answer.status, { "Content-Type": "application/json", "Content-Length": data.length });
    res.end(data);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://fake");
    const method = req.method ?? "GET";
    const query = Object.fromEntries(url.searchParams);
    const apiPrefix = "/api/2.0/mlflow/";
    const isApi = url.pathname.startsWith(apiPrefix);
    const endpoint = isApi ? url.pathname.slice(apiPrefix.length) : url.pathname.startsWith("/api/2.0/mlflow-artifacts/") ? "mlflow-artifacts" : url.pathname;
    let body: unknown = undefined;
    if (String(req.headers["content-type"] ?? "").startsWith("application/json") && raw.length > 0) {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        send(res, { status: 400, body: { error_code: "MALFORMED_REQUEST", message: "Malformed JSON" } });
        return;
      }
    }
    const recorded: RecordedRequest = { method, path: url.pathname, endpoint, query, headers: req.headers, body, raw };
    requests.push(recorded);
    const count = (inFlight.get(endpoint) ?? 0) + 1;
    inFlight.set(endpoint, count);
    maxInFlight.set(endpoint, Math.max(count, maxInFlight.get(endpoint) ?? 0));
    try {
      const wait = delays.get(endpoint);
      if (wait !== undefined) await new Promise((r) => setTimeout(r, wait));
      const custom = await overrides.get(`${method} ${endpoint}`)?.(recorded);
      if (custom !== undefined) {
        send(res, custom);
      } else if (isApi) {
        const b = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
        send(res, { status: 200, body: api(method, endpoint, query, b) });
      } else if (endpoint === "mlflow-artifacts") {
        send(res, proxy(method, url.pathname, query, raw));
      } else {
        send(res, { status: 404, text: "<html>Not Found</html>", contentType: "text/html" });
      }
    } catch (e) {
      if (e instanceof ApiError) send(res, { status: e.status, body: { error_code: e.code, message: e.message } });
      else send(res, { status: 500, body: { error_code: "INTERNAL_ERROR", message: String(e) } });
    } finally {
      inFlight.set(endpoint, (inFlight.get(endpoint) ?? 1) - 1);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.destroy(e instanceof Error ? e : new Error(String(e)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    state,
    requestsTo: (endpoint) => requests.filter((r) => r.endpoint === endpoint),
    override: (method, endpoint, handler) => {
      overrides.set(`${method} ${endpoint}`, handler);
    },
    delay: (endpoint, ms) => {
      delays.set(endpoint, ms);
    },
    maxInFlight: (endpoint) => maxInFlight.get(endpoint) ?? 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
