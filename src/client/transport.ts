/**
 * The HTTP layer under FlywheelClient and its API groups: URL building, default headers and the
 * requesting user, fetch with timeouts, and mapping failures to FlywheelApiError (the server
 * answered with an error) or FlywheelConnectionError (it could not be reached, or timed out).
 */
import { FlywheelApiError, FlywheelConnectionError, errorCodeForStatus } from "./errors.js";
import { asObject, asString } from "./normalize.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Query-string values; an array repeats the key. */
export type QueryParams = Record<string, string | number | boolean | readonly string[] | undefined>;

/** What the registry needs of the HTTP layer (FlywheelClient's transport). */
export interface JsonTransport {
  /** Calls a JSON endpoint at `path` (from the server root) and returns the decoded body. */
  request(method: HttpMethod, path: string, init?: { query?: QueryParams; body?: object }): Promise<Record<string, unknown>>;
}

const API_PREFIX = "/api/2.0/mlflow/";
/** The request header that names the requester (see `FlywheelClientOptions.user`). */
export const USER_HEADER = "X-Flywheel-User";

/** Validates and normalises a server root URL (no trailing slash). */
export function normalizeBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`Invalid tracking URI '${baseUrl}': expected an http:// or https:// URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Invalid tracking URI '${baseUrl}': expected an http:// or https:// URL`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new TypeError(`Invalid tracking URI '${baseUrl}': it must not have a query or fragment`);
  }
  return url.toString().replace(/\/+$/, "");
}

/**
 * Splits an artifact path into its segments. Empty segments are dropped (so leading, trailing and
 * doubled slashes do not matter); "." and ".." are refused because URL parsing would resolve them.
 */
export function artifactPathSegments(path: string): string[] {
  const segments = path.split("/").filter((s) => s !== "");
  for (const s of segments) {
    if (s === "." || s === "..") {
      throw new TypeError(`Invalid artifact path '${path}': '.' and '..' segments are not allowed`);
    }
  }
  return segments;
}

/**
 * Checks a user name for the `X-Flywheel-User` header and trims it: HTTP header values carry
 * Latin-1 text without control characters.
 */
export function normalizeUser(user: string): string {
  const trimmed = user.trim();
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw new TypeError(`Invalid user ${JSON.stringify(user)}: control characters are not allowed`);
  if ([...trimmed].some((c) => (c.codePointAt(0) ?? 0) > 0xff)) {
    throw new TypeError(`Invalid user '${trimmed}': an HTTP header carries only Latin-1 characters`);
  }
  if (trimmed.length > 256) throw new TypeError("Invalid user: longer than 256 characters");
  return trimmed;
}

/**
 * The default headers plus `X-Flywheel-User` (see `FlywheelClientOptions`): the `user` option wins
 * over `headers`, which win over env FLYWHEEL_USER.
 */
export function requestHeaders(opts: { headers?: Record<string, string>; user?: string }, env: NodeJS.ProcessEnv): { headers: Record<string, string>; user: string | undefined } {
  const isUserHeader = (k: string) => k.toLowerCase() === USER_HEADER.toLowerCase();
  const given = Object.entries(opts.headers ?? {});
  const headerUser = given.find(([k]) => isUserHeader(k))?.[1];
  const fromEnv = opts.user === undefined && headerUser === undefined;
  let user: string;
  try {
    user = normalizeUser(opts.user ?? headerUser ?? env.FLYWHEEL_USER ?? "");
  } catch (e) {
    if (fromEnv && e instanceof TypeError) throw new TypeError(`Environment variable FLYWHEEL_USER: ${e.message}`, { cause: e });
    throw e;
  }
  const headers: Record<string, string> = { Accept: "application/json" };
  for (const [k, v] of given) if (!isUserHeader(k)) headers[k] = v;
  if (user !== "") headers[USER_HEADER] = user;
  return { headers, user: user === "" ? undefined : user };
}

/** Percent-encodes each segment of an artifact path, keeping the slashes. */
export function encodeArtifactPath(path: string): string {
  return artifactPathSegments(path)
    .map((s) => encodeURIComponent(s))
    .join("/");
}

/** JSON.stringify that writes non-finite numbers the way MLflow reads them: "NaN", "Infinity". */
export function toWireJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "number" && !Number.isFinite(v)) {
      if (Number.isNaN(v)) return "NaN";
      return v > 0 ? "Infinity" : "-Infinity";
    }
    return v;
  });
}

function describeCause(e: unknown): string {
  let cur: unknown = e;
  // fetch wraps the socket error: TypeError("fetch failed", { cause: Error("connect ECONNREFUSED") }).
  for (let depth = 0; depth < 4; depth++) {
    const c = (cur as { cause?: unknown } | null)?.cause;
    if (c === undefined || c === null) break;
    cur = c;
  }
  if (cur instanceof Error) {
    const code = (cur as { code?: unknown }).code;
    const msg = cur.message !== "" ? cur.message : String(code ?? cur.name);
    return typeof code === "string" && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(cur);
}

export function isTimeout(e: unknown): boolean {
  return e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
}

/** The HTTP layer shared by the API groups: fetch, timeouts and error mapping. */
export class Transport implements JsonTransport {
  constructor(
    readonly baseUrl: string,
    private readonly headers: Record<string, string>,
    private readonly timeoutMs: number,
    readonly artifactTimeoutMs: number,
  ) {}

  url(path: string, query?: QueryParams): string {
    let url = `${this.baseUrl}${path}`;
    if (query !== undefined) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const item of v as readonly string[]) qs.append(k, item);
        else qs.append(k, String(v));
      }
      const s = qs.toString();
      if (s !== "") url += `?${s}`;
    }
    return url;
  }

  private connectionError(method: string, url: string, e: unknown, timeoutMs: number): FlywheelConnectionError {
    if (isTimeout(e)) {
      return new FlywheelConnectionError({
        message: `${method} ${url} timed out after ${timeoutMs} ms`,
        method,
        url,
        timedOut: true,
        cause: e,
      });
    }
    return new FlywheelConnectionError({
      message: `Cannot reach ${url} (${describeCause(e)}): is the server running? (flywheel server)`,
      method,
      url,
      timedOut: false,
      cause: e,
    });
  }

  private async apiError(method: string, url: string, res: Response, timeoutMs: number): Promise<FlywheelApiError> {
    const text = await this.readText(method, url, res, timeoutMs);
    let errorCode = errorCodeForStatus(res.status);
    let message: string;
    try {
      const body = asObject(JSON.parse(text));
      if (typeof body.error_code === "string" && body.error_code !== "") errorCode = body.error_code;
      message = asString(body.message);
    } catch {
      message = text.trim().replace(/\s+/g, " ").slice(0, 300);
    }
    if (message === "") message = `${method} ${url} failed: HTTP ${res.status} ${res.statusText}`.trim();
    return new FlywheelApiError({ status: res.status, errorCode, message, method, url });
  }

  async readText(method: string, url: string, res: Response, timeoutMs: number): Promise<string> {
    try {
      return await res.text();
    } catch (e) {
      throw this.connectionError(method, url, e, timeoutMs);
    }
  }

  /** Sends one request; resolves with the 2xx response, throws FlywheelApiError otherwise. */
  async send(
    method: string,
    url: string,
    init: {
      body?: string | Uint8Array | AsyncIterable<Uint8Array>;
      headers?: Record<string, string>;
      timeoutMs?: number;
      /** Set when reading a streamed body failed; that error is thrown instead of a connection error. */
      bodyFailure?: { error?: unknown };
    },
  ): Promise<Response> {
    const timeoutMs = init.timeoutMs ?? this.timeoutMs;
    const streaming = init.body !== undefined && typeof init.body !== "string" && !(init.body instanceof Uint8Array);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { ...this.headers, ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body }),
        ...(streaming ? { duplex: "half" as const } : {}),
        ...(timeoutMs > 0 ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
      });
    } catch (e) {
      if (init.bodyFailure?.error !== undefined) throw init.bodyFailure.error;
      throw this.connectionError(method, url, e, timeoutMs);
    }
    if (!res.ok) throw await this.apiError(method, url, res, timeoutMs);
    return res;
  }

  /** Calls a JSON endpoint under /api/2.0/mlflow/ and returns the decoded body. */
  async json(method: "GET" | "POST", endpoint: string, params: object = {}): Promise<Record<string, unknown>> {
    const isGet = method === "GET";
    return this.request(method, API_PREFIX + endpoint, isGet ? { query: params as QueryParams } : { body: params });
  }

  /** Calls a JSON endpoint at `path` (from the server root): `query` as the query string, `body` as JSON. */
  async request(method: HttpMethod, path: string, init: { query?: QueryParams; body?: object } = {}): Promise<Record<string, unknown>> {
    const url = this.url(path, init.query);
    const res = await this.send(method, url, {
      ...(init.body === undefined ? {} : { body: toWireJson(init.body), headers: { "Content-Type": "application/json" } }),
    });
    return this.decodeJson(method, url, res);
  }

  /** Reads a 2xx answer as a JSON object (an empty body is `{}`). */
  async decodeJson(method: string, url: string, res: Response): Promise<Record<string, unknown>> {
    const text = await this.readText(method, url, res, this.timeoutMs);
    if (text.trim() === "") return {};
    try {
      return asObject(JSON.parse(text));
    } catch {
      throw new FlywheelApiError({
        status: res.status,
        errorCode: "INVALID_RESPONSE",
        message: `${method} ${url} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`,
        method,
        url,
      });
    }
  }
}
