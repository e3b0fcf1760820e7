/** Opaque page tokens: an offset bound to the query it was issued for. */
import { createHash } from "node:crypto";
import { FlywheelError } from "../core/errors.js";

function fingerprint(query: unknown): string {
  return createHash("sha256").update(JSON.stringify(query)).digest("base64url").slice(0, 12);
}

export function encodePageToken(offset: number, query: unknown): string {
  return Buffer.from(JSON.stringify({ o: offset, q: fingerprint(query) })).toString("base64url");
}

/** Returns the offset a token stands for; an absent token is offset 0. */
export function decodePageToken(token: string | undefined, query: unknown): number {
  if (token === undefined || token === "") return 0;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const p = parsed as { o?: unknown; q?: unknown } | undefined;
  if (typeof p !== "object" || p === null || typeof p.o !== "number" || !Number.isSafeInteger(p.o) || p.o < 0) {
    throw new FlywheelError("FW_SEARCH_INVALID_PAGE_TOKEN", `Invalid page token '${token.slice(0, 64)}': not issued by this server`);
  }
  if (p.q !== fingerprint(query)) {
    throw new FlywheelError("FW_SEARCH_INVALID_PAGE_TOKEN", `Invalid page token: it was issued for a different query`);
  }
  return p.o;
}
