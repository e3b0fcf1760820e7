/** Page tokens: opaque offsets bound to the query they were issued for. */
import { describe, expect, test } from "vitest";
import { FlywheelError } from "../core/errors.js";
import { decodePageToken, encodePageToken } from "./page-token.js";

const query = { experimentIds: ["1", "2"], filter: "metrics.acc > 0.5", orderBy: ["metrics.acc DESC"], viewType: "ACTIVE_ONLY", maxResults: 10 };

function invalidToken(token: string | undefined, q: unknown = query): string {
  let caught: unknown;
  try {
    decodePageToken(token, q);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FlywheelError);
  expect((caught as FlywheelError).code).toBe("FW_SEARCH_INVALID_PAGE_TOKEN");
  return (caught as FlywheelError).message;
}

const raw = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString("base64url");

describe("page tokens", () => {
  test.each([0, 1, 10, 999_999, Number.MAX_SAFE_INTEGER])("offset %d round-trips", (offset) => {
    const token = encodePageToken(offset, query);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodePageToken(token, query)).toBe(offset);
    // A structurally equal query object is the same query.
    expect(decodePageToken(token, JSON.parse(JSON.stringify(query)))).toBe(offset);
  });

  test("the token is opaque and does not show the query", () => {
    const token = encodePageToken(20, query);
    expect(token).not.toContain("metrics");
    expect(Buffer.from(token, "base64url").toString("utf8")).not.toContain("acc");
  });

  test("no token, or an empty one, is the first page", () => {
    expect(decodePageToken(undefined, query)).toBe(0);
    expect(decodePageToken("", query)).toBe(0);
  });

  test.each([
    ["garbage", "!!!not-a-token!!!"],
    ["base64 of non-JSON", Buffer.from("hello world").toString("base64url")],
    ["JSON without an offset", raw({ q: "x" })],
    ["a negative offset", raw({ o: -1, q: "x" })],
    ["a fractional offset", raw({ o: 1.5, q: "x" })],
    ["a string offset", raw({ o: "10", q: "x" })],
    ["an unsafe offset", raw({ o: 2 ** 53, q: "x" })],
    ["JSON null", raw(null)],
    ["a JSON number", raw(5)],
  ])("%s is FW_SEARCH_INVALID_PAGE_TOKEN", (_, token) => {
    expect(invalidToken(token)).toMatch(/Invalid page token/);
  });

  test("a long garbage token is echoed only in part", () => {
    const token = "x".repeat(500);
    const msg = invalidToken(token);
    expect(msg.length).toBeLessThan(200);
  });

  test("a token issued for another query is rejected", () => {
    const token = encodePageToken(10, query);
    for (const other of [
      { ...query, filter: "metrics.acc > 0.6" },
      { ...query, orderBy: ["metrics.acc ASC"] },
      { ...query, experimentIds: ["1"] },
      { ...query, maxResults: 11 },
      { ...query, viewType: "ALL" },
      "a different kind of query",
    ]) {
      expect(invalidToken(token, other)).toMatch(/different query/);
    }
  });

  test("a token with a forged offset but the right fingerprint still decodes; a forged fingerprint does not", () => {
    const token = encodePageToken(10, query);
    const payload = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { o: number; q: string };
    expect(decodePageToken(raw({ ...payload, o: 30 }), query)).toBe(30);
    expect(invalidToken(raw({ ...payload, q: "AAAAAAAAAAAA" }))).toMatch(/different query/);
  });
});
