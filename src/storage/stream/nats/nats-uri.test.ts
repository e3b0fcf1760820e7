import { expect, test } from "vitest";
import { parseAckSubject } from "./nats-pull.js";
import { parseNatsUri } from "./nats-uri.js";

test("parseNatsUri reads servers, credentials and tokens, and hides secrets", () => {
  expect(parseNatsUri("nats://127.0.0.1:4222")).toEqual({ servers: ["127.0.0.1:4222"], display: "nats://127.0.0.1:4222" });
  expect(parseNatsUri("nats://a:1,nats://b")).toEqual({ servers: ["a:1", "b:4222"], display: "nats://a:1,nats://b:4222" });
  expect(parseNatsUri("nats://me:p%40ss@h:5")).toEqual({ servers: ["h:5"], user: "me", pass: "p@ss", display: "nats://h:5" });
  expect(parseNatsUri("nats://tok3n@h")).toEqual({ servers: ["h:4222"], token: "tok3n", display: "nats://h:4222" });
  expect(() => parseNatsUri("nats://")).toThrow(/expected nats:\/\/host:port/);
  expect(() => parseNatsUri("http://u:secret@h")).toThrow(expect.objectContaining({ message: expect.not.stringContaining("secret") }));
});

test("parseAckSubject reads the delivery count, stream sequence and time of both ack-subject forms", () => {
  expect(parseAckSubject("$JS.ACK.S.c.2.17.5.1700000000123456789.0")).toEqual({
    deliveryCount: 2,
    seq: 17,
    publishedAt: 1700000000123,
  });
  expect(parseAckSubject("$JS.ACK.hub.ACCHASH.S.c.1.9.9.1700000000999000000.3.rnd")).toEqual({
    deliveryCount: 1,
    seq: 9,
    publishedAt: 1700000000999,
  });
  expect(parseAckSubject("_INBOX.abc")).toBeUndefined();
  expect(parseAckSubject("$JS.ACK.S.c.x.1.1.1.0")).toBeUndefined();
});
