/** Errors thrown by the HTTP client. */

/** The server answered with a non-2xx status (or a 2xx body that is not the expected JSON). */
export class FlywheelApiError extends Error {
  /** HTTP status of the answer. */
  readonly status: number;
  /** MLflow `error_code` from the body, e.g. `RESOURCE_DOES_NOT_EXIST`. */
  readonly errorCode: string;
  readonly method: string;
  readonly url: string;

  constructor(init: { status: number; errorCode: string; message: string; method: string; url: string }) {
    super(init.message);
    this.name = "FlywheelApiError";
    this.status = init.status;
    this.errorCode = init.errorCode;
    this.method = init.method;
    this.url = init.url;
  }
}

/** The request never got an answer: connection refused, DNS failure, reset, or timeout. */
export class FlywheelConnectionError extends Error {
  readonly method: string;
  readonly url: string;
  /** True when the request was aborted by the client's timeout. */
  readonly timedOut: boolean;

  constructor(init: { message: string; method: string; url: string; timedOut: boolean; cause: unknown }) {
    super(init.message, { cause: init.cause });
    this.name = "FlywheelConnectionError";
    this.method = init.method;
    this.url = init.url;
    this.timedOut = init.timedOut;
  }
}

export function isFlywheelApiError(e: unknown): e is FlywheelApiError {
  return e instanceof FlywheelApiError;
}

/** True for "the experiment/run/metric/artifact does not exist" answers. */
/** A missing resource: MLflow's RESOURCE_DOES_NOT_EXIST, or any Flywheel `*_NOT_FOUND` answered with 404. */
export function isNotFound(e: unknown): e is FlywheelApiError {
  return e instanceof FlywheelApiError && (e.errorCode === "RESOURCE_DOES_NOT_EXIST" || (e.status === 404 && e.errorCode.endsWith("_NOT_FOUND")));
}

/** The MLflow error code a status maps to when the body carries none (e.g. a proxy's HTML page). */
export function errorCodeForStatus(status: number): string {
  if (status === 400) return "BAD_REQUEST";
  if (status === 401) return "UNAUTHENTICATED";
  if (status === 403) return "PERMISSION_DENIED";
  if (status === 404) return "ENDPOINT_NOT_FOUND";
  if (status === 409) return "RESOURCE_CONFLICT";
  if (status === 429) return "REQUEST_LIMIT_EXCEEDED";
  if (status === 503) return "TEMPORARILY_UNAVAILABLE";
  if (status >= 500) return "INTERNAL_ERROR";
  return "BAD_REQUEST";
}
