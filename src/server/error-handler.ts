/**
 * The one place where anything thrown becomes an HTTP answer. MLflow-compatible routes answer
 * with MLflow's error codes, Flywheel's own routes with Flywheel's; both as {error_code, message}.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { FlywheelError, toFlywheelError } from "../core/errors.js";

function isMlflowRoute(req: FastifyRequest): boolean {
  const url = req.raw.url ?? "";
  return url.startsWith("/api/2.0/") || url.startsWith("/ajax-api/2.0/");
}

/** Translates Fastify's own request errors (bad JSON, body too large...) into our codes. */
function fromFastify(e: FastifyError): FlywheelError | undefined {
  switch (e.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new FlywheelError("FW_REQUEST_TOO_LARGE", `Request body too large: ${e.message}`);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new FlywheelError("FW_REQUEST_UNSUPPORTED_MEDIA_TYPE", e.message);
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new FlywheelError("FW_REQUEST_MALFORMED_JSON", e.message);
    default:
      if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
        return new FlywheelError("FW_REQUEST_INVALID_FIELD", e.message);
      }
      return undefined;
  }
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error, req, reply) => {
    const fe =
      error instanceof FlywheelError ? error : (fromFastify(error as FastifyError) ?? toFlywheelError(error));
    if (fe.status >= 500) req.log.error({ err: error, url: req.raw.url }, "request failed");
    const code = isMlflowRoute(req) ? fe.mlflowCode : fe.code;
    void reply.code(fe.status).send({ error_code: code, message: fe.message });
  });
  app.setNotFoundHandler((req, reply) => {
    const fe = new FlywheelError("FW_ROUTE_NOT_FOUND", `No endpoint for ${req.method} ${req.raw.url?.split("?")[0] ?? ""}`);
    void reply.code(fe.status).send({ error_code: isMlflowRoute(req) ? fe.mlflowCode : fe.code, message: fe.message });
  });
}
