/**
 * Artifact path checks. A user path is URL-decoded until it stops changing, then refused if it
 * could escape its root or smuggle a delimiter: `..` segments, backslashes, absolute paths,
 * drive letters, NUL bytes, `#` and `;` (the inputs behind MLflow's traversal CVEs).
 */
import { FlywheelError } from "../../core/errors.js";

const MAX_DECODE_ROUNDS = 8;

function unsafe(input: string, why: string): FlywheelError {
  const shown = input.length > 200 ? `${input.slice(0, 200)}...` : input;
  return new FlywheelError("FW_ARTIFACT_UNSAFE_PATH", `Invalid artifact path '${shown}': ${why}`, { details: { field: "path" } });
}

/** Decodes percent-escapes repeatedly, so `%252e%252e` is seen as `..`. */
export function decodeFully(input: string): string {
  let cur = input;
  for (let i = 0; i < MAX_DECODE_ROUNDS; i++) {
    let next: string;
    try {
      next = decodeURIComponent(cur);
    } catch {
      throw unsafe(input, "malformed percent-encoding");
    }
    if (next === cur) return cur;
    cur = next;
  }
  throw unsafe(input, `still percent-encoded after ${MAX_DECODE_ROUNDS} rounds of decoding`);
}

/**
 * Returns the normalized relative key (`a/b/c`, or `""` for the root) of a user-supplied path,
 * or throws FW_ARTIFACT_UNSAFE_PATH. Empty and `.` segments are dropped; a trailing slash is fine.
 */
export function safeRelativePath(input: string): string {
  const decoded = decodeFully(input);
  if (decoded.includes("\0")) throw unsafe(input, "contains a NUL byte");
  if (decoded.includes("\\")) throw unsafe(input, "contains a backslash");
  if (decoded.includes("#")) throw unsafe(input, "contains '#'");
  if (decoded.includes(";")) throw unsafe(input, "contains ';'");
  if (decoded.startsWith("/")) throw unsafe(input, "is an absolute path");
  if (/^[A-Za-z]:/.test(decoded)) throw unsafe(input, "starts with a drive letter");
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(decoded)) throw unsafe(input, "is a URI, not a relative path");
  const segments = decoded.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.some((s) => s === "..")) throw unsafe(input, "contains a '..' segment");
  // eslint-disable-next-line no-control-regex
  if (segments.some((s) => /[\u0000-\u001f]/.test(s))) throw unsafe(input, "contains a control character");
  return segments.join("/");
}

/** Joins already-safe relative keys. */
export function joinKey(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/");
}
