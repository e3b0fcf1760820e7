/**
 * The OnlineStore contract, run once against every backend (SQLite always, Redis when
 * FLYWHEEL_TEST_REDIS_URL is set). Each backend gets a fresh project namespace, dropped afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { onlineBackends, onlineTitleOf } from "../../../test/helpers/online-backends.js";
import { serializeEntityKey } from "./entity-key.js";
import type { OnlineStore, OnlineWriteRow } from "./online-store.js";
import { openOnlineStore } from "./open.js";

const T = 1_700_000_000_000;

describe("serializeEntityKey", () => {
  test("sorts join keys and tags value types", () => {
    expect(serializeEntityKey({ b: 1, a: "x" })).toBe(serializeEntityKey({ a: "x", b: 1 }));
    expect(serializeEntityKey({ id: 1 })).not.toBe(serializeEntityKey({ id: "1" }));
    expect(serializeEntityKey({ id: -0 })).toBe(serializeEntityKey({ id: 0 }));
    expect(serializeEntityKey({ store: 3, customer: "c 7{}" })).toBe("customer=s:c%207%7B%7D&store=n:3");
  });

  test("rejects empty keys and non-scalar values", () => {
    expect(() => serializeEntityKey({})).toThrow(/at least one join key/);
    expect(() => serializeEntityKey({ id: Number.NaN })).toThrow(/finite number/);
  });
});

test("openOnlineStore lists the supported schemes for an unknown one", async () => {
  await expect(openOnlineStore("mongodb://x", { project: "p" })).rejects.toMatchObject({
    code: "FW_STORAGE_UNSUPPORTED_URI",
    message: expect.stringMatching(/'sqlite:', 'redis:', 'rediss:'/),
  });
});

for (const backend of onlineBackends) {
  describe.skipIf(backend.skip !== undefined)(`OnlineStore on ${onlineTitleOf(backend)}`, () => {
    let store: OnlineStore;
    let drop: () => Promise<void>;
    let viewSeq = 0;
    // A fresh view per test keeps cases independent inside one project namespace.
    const freshView = (): string => `view_${++viewSeq}`;

    beforeAll(async () => {
      const made = await backend.create();
      drop = made.drop;
      store = await openOnlineStore(made.uri, { project: made.project });
    });

    afterAll(async () => {
      await store?.close();
      await drop?.();
    });

    const row = (id: number, values: Record<string, unknown>, eventTs: number, createdTs?: number): OnlineWriteRow =>
      createdTs === undefined
        ? { entityKey: { driver_id: id }, values, eventTs }
        : { entityKey: { driver_id: id }, values, eventTs, createdTs };

    async function one(view: string, id: number, features: string[]) {
      const [res] = await store.read(view, [{ driver_id: id }], features);
      return res!;
    }

    test("advertises its capabilities", () => {
      expect(store.scheme).toBe(backend.name);
      expect(store.capabilities.sharedAcrossHosts).toBe(backend.name === "redis");
      expect(store.capabilities.atomicBatchWrites).toBe(backend.name === "sqlite");
    });

    test("a newer row replaces an older one, written in that order", async () => {
      const v = freshView();
      await store.write(v, [row(1, { trips: 1 }, T)]);
      await store.write(v, [row(1, { trips: 2 }, T + 1)]);
      expect((await one(v, 1, ["trips"])).trips).toEqual({ value: 2, status: "PRESENT", eventTs: T + 1 });
    });

    test("an older row never replaces a newer one, written out of order", async () => {
      const v = freshView();
      await store.write(v, [row(1, { trips: 2 }, T + 1)]);
      await store.write(v, [row(1, { trips: 1 }, T)]);
      expect((await one(v, 1, ["trips"])).trips).toEqual({ value: 2, status: "PRESENT", eventTs: T + 1 });
    });

    test("within one batch the newest row wins whatever its position", async () => {
      const v = freshView();
      await store.write(v, [row(1, { trips: 5 }, T + 5), row(1, { trips: 3 }, T + 3), row(2, { trips: 1 }, T), row(2, { trips: 9 }, T + 9)]);
      const res = await store.read(v, [{ driver_id: 1 }, { driver_id: 2 }], ["trips"]);
      expect(res.map((r) => r.trips!.value)).toEqual([5, 9]);
    });

    test("equal eventTs: the greater createdTs wins, in both orders", async () => {
      const v = freshView();
      await store.write(v, [row(1, { trips: 1 }, T, 100)]);
      await store.write(v, [row(1, { trips: 2 }, T, 200)]);
      await store.write(v, [row(2, { trips: 2 }, T, 200)]);
      await store.write(v, [row(2, { trips: 1 }, T, 100)]);
      // A missing createdTs counts as 0, so it loses to any stored creation time.
      await store.write(v, [row(2, { trips: 3 }, T)]);
      const res = await store.read(v, [{ driver_id: 1 }, { driver_id: 2 }], ["trips"]);
      expect(res.map((r) => r.trips!.value)).toEqual([2, 2]);
    });

    test("an exact re-write is a no-op, and equal timestamps keep the stored row", async () => {
      const v = freshView();
      const r = row(1, { trips: 7, rating: 4.5 }, T, 10);
      await store.write(v, [r]);
      await store.write(v, [r, r]);
      await store.write(v, [row(1, { trips: 8 }, T, 10)]);
      expect(await one(v, 1, ["trips", "rating"])).toEqual({
        trips: { value: 7, status: "PRESENT", eventTs: T },
        rating: { value: 4.5, status: "PRESENT", eventTs: T },
      });
    });

    test("a newer row replaces the whole row: features it lacks read NOT_FOUND", async () => {
      const v = freshView();
      await store.write(v, [row(1, { trips: 1, rating: 3 }, T)]);
      await store.write(v, [row(1, { trips: 2 }, T + 1)]);
      expect(await one(v, 1, ["trips", "rating"])).toEqual({
        trips: { value: 2, status: "PRESENT", eventTs: T + 1 },
        rating: { value: null, status: "NOT_FOUND", eventTs: T + 1 },
      });
    });

    test("NULL_VALUE for a stored null, NOT_FOUND for an unknown entity or feature", async () => {
      const v = freshView();
      await store.write(v, [row(1, { trips: null, rating: 5 }, T)]);
      const [known, unknown] = await store.read(v, [{ driver_id: 1 }, { driver_id: 404 }], ["trips", "rating", "absent"]);
      expect(known).toEqual({
        trips: { value: null, status: "NULL_VALUE", eventTs: T },
        rating: { value: 5, status: "PRESENT", eventTs: T },
        absent: { value: null, status: "NOT_FOUND", eventTs: T },
      });
      expect(unknown).toEqual({
        trips: { value: null, status: "NOT_FOUND", eventTs: null },
        rating: { value: null, status: "NOT_FOUND", eventTs: null },
        absent: { value: null, status: "NOT_FOUND", eventTs: null },
      });
    });

    test("reads many entities at once, aligned with the request order (duplicates included)", async () => {
      const v = freshView();
      await store.write(v, [1, 2, 3, 4].map((id) => row(id, { trips: id * 10 }, T + id)));
      const ids = [4, 99, 1, 3, 1];
      const res = await store.read(v, ids.map((driver_id) => ({ driver_id })), ["trips"]);
      expect(res.map((r) => r.trips!.value)).toEqual([40, null, 10, 30, 10]);
      expect(res.map((r) => r.trips!.status)).toEqual(["PRESENT", "NOT_FOUND", "PRESENT", "PRESENT", "PRESENT"]);
      expect(await store.read(v, [], ["trips"])).toEqual([]);
    });

    test("composite entity keys with string and int values, in any key order", async () => {
      const v = freshView();
      await store.write(v, [
        { entityKey: { customer: "c1", store: 7 }, values: { spend: 1 }, eventTs: T },
        { entityKey: { store: 7, customer: "c2" }, values: { spend: 2 }, eventTs: T },
        { entityKey: { customer: "c1", store: "7" }, values: { spend: 3 }, eventTs: T },
        { entityKey: { customer: "a b&c=d:{x}", store: 7 }, values: { spend: 4 }, eventTs: T },
      ]);
      const res = await store.read(
        v,
        [
          { store: 7, customer: "c1" },
          { customer: "c2", store: 7 },
          { store: "7", customer: "c1" },
          { store: 7, customer: "a b&c=d:{x}" },
          { customer: "c1" },
        ],
        ["spend"],
      );
      expect(res.map((r) => r.spend!.value)).toEqual([1, 2, 3, 4, null]);
    });

    test("typed values round-trip", async () => {
      const v = freshView();
      const values = {
        int: 42,
        float: -3.25,
        big: 2 ** 53 - 1,
        str: "héllo \"quoted\" 🚀",
        empty: "",
        yes: true,
        no: false,
        nothing: null,
        nums: [1, 2.5, -3],
        strs: ["a", "", "c"],
        bools: [true, false],
        emptyList: [],
        withNull: [1, null, 3],
        nan: Number.NaN,
        inf: Number.POSITIVE_INFINITY,
        ninf: [Number.NEGATIVE_INFINITY, 1],
        bytes: new Uint8Array([0, 1, 254, 255]),
      };
      await store.write(v, [row(1, values, T)]);
      const got = await one(v, 1, Object.keys(values));
      for (const [name, expected] of Object.entries(values)) {
        expect(got[name]!.value, name).toEqual(expected);
        expect(got[name]!.status, name).toBe(expected === null ? "NULL_VALUE" : "PRESENT");
      }
    });

    test("rejects values that are not feature values, and bad names, before writing anything", async () => {
      const v = freshView();
      await expect(store.write(v, [row(1, { ok: 1 }, T), row(2, { obj: { a: 1 } }, T)])).rejects.toMatchObject({
        code: "FW_REQUEST_INVALID_FIELD",
      });
      await expect(store.write("bad:view", [row(1, { ok: 1 }, T)])).rejects.toMatchObject({ code: "FW_REQUEST_INVALID_FIELD" });
      await expect(store.write(v, [row(1, { __ts__: 1 }, T)])).rejects.toMatchObject({ code: "FW_REQUEST_INVALID_FIELD" });
      await expect(store.write(v, [row(1, { ok: 1 }, Number.NaN)])).rejects.toMatchObject({ code: "FW_REQUEST_INVALID_FIELD" });
      expect((await one(v, 1, ["ok"])).ok!.status).toBe("NOT_FOUND");
    });

    test("OUTSIDE_MAX_AGE when the row is older than the ttl given to read", async () => {
      const v = freshView();
      await store.write(v, [row(1, { trips: 1, gone: null }, T), row(2, { trips: 2 }, T + 60_000)]);
      const keys = [{ driver_id: 1 }, { driver_id: 2 }, { driver_id: 3 }];
      const res = await store.read(v, keys, ["trips", "gone"], { ttlSeconds: 30, now: T + 61_000 });
      expect(res[0]).toEqual({
        trips: { value: null, status: "OUTSIDE_MAX_AGE", eventTs: T },
        gone: { value: null, status: "NULL_VALUE", eventTs: T },
      });
      expect(res[1]!.trips).toEqual({ value: 2, status: "PRESENT", eventTs: T + 60_000 });
      expect(res[2]!.trips!.status).toBe("NOT_FOUND");
      // ttl 0 means no limit, as in Feast.
      const noTtl = await store.read(v, keys, ["trips"], { ttlSeconds: 0, now: T + 10 ** 12 });
      expect(noTtl.map((r) => r.trips!.status)).toEqual(["PRESENT", "PRESENT", "NOT_FOUND"]);
    });

    test("views are independent, and deleteView removes only its own rows", async () => {
      const a = freshView();
      const b = freshView();
      await store.write(a, [row(1, { x: "a" }, T)]);
      await store.write(b, [row(1, { x: "b" }, T)]);
      await store.deleteView(a);
      expect((await one(a, 1, ["x"])).x!.status).toBe("NOT_FOUND");
      expect((await one(b, 1, ["x"])).x!.value).toBe("b");
      // A deleted view accepts older rows again: nothing of it is remembered.
      await store.write(a, [row(1, { x: "again" }, T - 1)]);
      expect((await one(a, 1, ["x"])).x!.value).toBe("again");
      await store.deleteView("never_written");
    });

    test("1,000 entities written in one batch and read in one call", async () => {
      const v = freshView();
      const rows = Array.from({ length: 1000 }, (_, i) => ({
        entityKey: { driver_id: i, region: `r${i % 7}` },
        values: { trips: i, name: `d${i}`, vec: [i, i + 0.5] },
        eventTs: T + i,
      }));
      await store.write(v, rows);
      const res = await store.read(v, rows.map((r) => r.entityKey), ["trips", "name", "vec"]);
      expect(res).toHaveLength(1000);
      res.forEach((r, i) => {
        expect(r.trips).toEqual({ value: i, status: "PRESENT", eventTs: T + i });
        expect(r.name!.value).toBe(`d${i}`);
        expect(r.vec!.value).toEqual([i, i + 0.5]);
      });
    });
  });
}
