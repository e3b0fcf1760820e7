/** Identifier generation: MLflow-style 32-hex run ids and short random tokens. */
import { randomBytes } from "node:crypto";

/** A 32-character lowercase hex id, as MLflow uses for runs (`uuid4().hex`). */
export function newRunId(): string {
  return randomBytes(16).toString("hex");
}

/** A random hex token of `bytes` bytes. */
export function randomToken(bytes = 8): string {
  return randomBytes(bytes).toString("hex");
}

const RUN_ID_RE = /^[0-9a-f]{32}$/;

export function isRunId(value: string): boolean {
  return RUN_ID_RE.test(value);
}
