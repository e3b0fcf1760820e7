/** Turns failures from the NATS client into FlywheelErrors that name what was being done. */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { FlywheelError } from "../../../core/errors.js";

export function isApiError(e: unknown, code: number): boolean {
  return e instanceof JetStreamApiError && e.code === code;
}

export function streamNotFound(stream: string): FlywheelError {
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid stream '${stream}': no such stream (create it with ensureStream)`);
}

export function consumerNotFound(stream: string, durable: string): FlywheelError {
  return new FlywheelError(
    "FW_REQUEST_INVALID_FIELD",
    `Invalid durable '${durable}': stream '${stream}' has no such consumer (it was deleted)`,
  );
}

/**
 * `what` completes "NATS JetStream at <server> failed to ...". A request JetStream refused (a 4xx
 * API error) is the caller's to fix; anything else means the broker is unreachable or unwell.
 */
export function wrapNatsError(e: unknown, server: string, what: string, field?: string): FlywheelError {
  if (e instanceof FlywheelError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof JetStreamApiError && e.status >= 400 && e.status < 500 && e.code !== JetStreamApiCodes.JetStreamNotEnabledForAccount) {
    const subject = field === undefined ? "Invalid request" : `Invalid ${field}`;
    return new FlywheelError("FW_REQUEST_INVALID_FIELD", `${subject}: JetStream refused to ${what}: ${message}`, { cause: e });
  }
  return new FlywheelError("FW_STORAGE_UNAVAILABLE", `NATS JetStream at '${server}' failed to ${what}: ${message}`, {
    cause: e,
  });
}
