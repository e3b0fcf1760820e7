/** MLflow's search grammar: filters and order_by clauses, parsed without a database. */
import { describe, expect, test } from "vitest";
import { FlywheelError } from "../core/errors.js";
import type { Comparison } from "../storage/metadata/search-types.js";
import { parseFilter, parseOrderBy, type SearchTarget } from "./search-grammar.js";

const one = (filter: string, target: SearchTarget = "run"): Comparison => {
  const parsed = parseFilter(filter, target);
  expect(parsed).toHaveLength(1);
  return parsed[0] as Comparison;
};

/** Parses, expects FW_SEARCH_INVALID_FILTER, and returns the part of the message after the echoed input. */
function failure(run: () => unknown): string {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FlywheelError);
  const err = caught as FlywheelError;
  expect(err.code).toBe("FW_SEARCH_INVALID_FILTER");
  expect(err.message).toMatch(/^Invalid search expression '/);
  // The reason follows the echoed expression; assert on it so a token found only in the echo does not count.
  const reason = err.message.slice(err.message.lastIndexOf("': ") + 3);
  expect(reason.length).toBeGreaterThan(0);
  return reason;
}
const filterError = (filter: string, target: SearchTarget = "run") => failure(() => parseFilter(filter, target));
const orderError = (clause: string, target: SearchTarget = "run") => failure(() => parseOrderBy([clause], target));

describe("parseFilter", () => {
  test("empty, blank and absent filters are empty", () => {
    expect(parseFilter(undefined, "run")).toEqual([]);
    expect(parseFilter("", "run")).toEqual([]);
    expect(parseFilter("   \t\n", "experiment")).toEqual([]);
  });

  test.each([
    ["metric", "metric"],
    ["metrics", "metric"],
    ["METRICS", "metric"],
    ["param", "param"],
    ["params", "param"],
    ["parameter", "param"],
    ["parameters", "param"],
    ["tag", "tag"],
    ["tags", "tag"],
    ["Tags", "tag"],
    ["attribute", "attribute"],
    ["attributes", "attribute"],
    ["attr", "attribute"],
    ["run", "attribute"],
  ])("prefix %s. is a %s", (prefix, type) => {
    const key = type === "attribute" ? "run_name" : "k";
    const value = type === "metric" ? "1" : "'v'";
    expect(one(`${prefix}.${key} = ${value}`)).toEqual({
      type,
      key,
      comparator: "=",
      value: type === "metric" ? 1 : "v",
    });
  });

  test("an identifier without a prefix is an attribute", () => {
    expect(one("run_name = 'x'")).toEqual({ type: "attribute", key: "run_name", comparator: "=", value: "x" });
    expect(one("status != 'FAILED'")).toEqual({ type: "attribute", key: "status", comparator: "!=", value: "FAILED" });
    expect(one("start_time >= 10")).toEqual({ type: "attribute", key: "start_time", comparator: ">=", value: 10 });
  });

  test("attribute aliases: created → start_time, run_uuid → run_id", () => {
    expect(one("attributes.created > 5")).toMatchObject({ key: "start_time", value: 5 });
    expect(one("created < 5")).toMatchObject({ key: "start_time", value: 5 });
    expect(one("attributes.run_uuid = 'abc'")).toMatchObject({ key: "run_id", value: "abc" });
  });

  test.each([
    ["metrics.`my metric` > 0.5", "metric", "my metric"],
    ["metrics.\"my metric\" > 0.5", "metric", "my metric"],
    ["tags.\"a.b\" = 'x'", "tag", "a.b"],
    ["tags.`a.b` = 'x'", "tag", "a.b"],
    ["params.`x-y` = 'x'", "param", "x-y"],
    ["params.x-y = 'x'", "param", "x-y"],
    ["metrics.val.loss > 0.5", "metric", "val.loss"],
    ["metrics.a.b.c < 1", "metric", "a.b.c"],
    ["tags.mlflow.runName = 'x'", "tag", "mlflow.runName"],
    ["tags.`mlflow.source.git.commit` = 'x'", "tag", "mlflow.source.git.commit"],
    ["metrics.`with ``tick`` inside` = 1", "metric", "with `tick` inside"],
    ["params.`a b.c-d/e` = 'x'", "param", "a b.c-d/e"],
    ["metrics.train/loss < 1", "metric", "train/loss"],
    ["metrics.`精度` > 0.5", "metric", "精度"],
    ["metrics.précision > 0.5", "metric", "précision"],
    ["metrics.2nd_pass > 0", "metric", "2nd_pass"],
  ])("key in %s", (filter, type, key) => {
    expect(one(filter)).toMatchObject({ type, key });
  });

  test("string values in single or double quotes", () => {
    expect(one("params.opt = 'adam'").value).toBe("adam");
    expect(one('params.opt = "adam"').value).toBe("adam");
    expect(one("params.note = 'it''s'").value).toBe("it's");
    expect(one("params.note = 'say \"hi\"'").value).toBe('say "hi"');
    expect(one("params.note = \"it's\"").value).toBe("it's");
    expect(one("params.note = ''").value).toBe("");
    expect(one("params.note = 'a AND b'").value).toBe("a AND b");
    expect(one("tags.`k` = \"with space\"").value).toBe("with space");
  });

  test.each([
    ["0", 0],
    ["42", 42],
    ["-1", -1],
    ["+2", 2],
    ["0.5", 0.5],
    [".5", 0.5],
    ["-.25", -0.25],
    ["3.", 3],
    ["1e3", 1000],
    ["1E-3", 0.001],
    ["-2.5e+2", -250],
    ["6.02e23", 6.02e23],
  ])("number %s", (text, value) => {
    expect(one(`metrics.m > ${text}`).value).toBe(value);
    expect(one(`metrics.m>${text}`).value).toBe(value);
  });

  test.each(["=", "!=", ">", ">=", "<", "<="] as const)("metric comparator %s", (op) => {
    expect(one(`metrics.m ${op} 1`)).toEqual({ type: "metric", key: "m", comparator: op, value: 1 });
  });

  test("<> is !=", () => {
    expect(one("params.p <> 'x'").comparator).toBe("!=");
  });

  test("LIKE and ILIKE, in any case", () => {
    expect(one("params.p LIKE 'a%'")).toMatchObject({ comparator: "LIKE", value: "a%" });
    expect(one("params.p like 'a%'")).toMatchObject({ comparator: "LIKE" });
    expect(one("tags.t Like '%b'")).toMatchObject({ comparator: "LIKE" });
    expect(one("tags.t ILIKE '%B%'")).toMatchObject({ comparator: "ILIKE", value: "%B%" });
    expect(one("attributes.run_name ilike 'x_'")).toMatchObject({ comparator: "ILIKE" });
  });

  test("IN and NOT IN lists", () => {
    expect(one("attributes.run_id IN ('a', 'b', \"c\")")).toEqual({
      type: "attribute",
      key: "run_id",
      comparator: "IN",
      value: ["a", "b", "c"],
    });
    expect(one("run_id in ('only')").value).toEqual(["only"]);
    expect(one("attributes.run_id NOT IN ('a','b')")).toMatchObject({ comparator: "NOT IN", value: ["a", "b"] });
    expect(one("run_id not in ('a')")).toMatchObject({ comparator: "NOT IN" });
  });

  test("IS NULL and IS NOT NULL", () => {
    expect(one("params.p IS NULL")).toEqual({ type: "param", key: "p", comparator: "IS NULL", value: null });
    expect(one("tags.t is not null")).toEqual({ type: "tag", key: "t", comparator: "IS NOT NULL", value: null });
    expect(one("tags.`a b` IS NOT NULL").key).toBe("a b");
  });

  test("AND in any case joins comparisons", () => {
    expect(parseFilter("metrics.a > 1 AND params.b = 'x' and tags.c != 'y' aNd attributes.status = 'FINISHED'", "run")).toEqual([
      { type: "metric", key: "a", comparator: ">", value: 1 },
      { type: "param", key: "b", comparator: "=", value: "x" },
      { type: "tag", key: "c", comparator: "!=", value: "y" },
      { type: "attribute", key: "status", comparator: "=", value: "FINISHED" },
    ]);
    expect(parseFilter("  metrics.a>1 and metrics.a<2  ", "run")).toHaveLength(2);
  });

  test("numeric attributes take numbers, string attributes take strings", () => {
    expect(one("attributes.end_time <= 99").value).toBe(99);
    expect(one("attributes.experiment_id = 3").value).toBe(3);
    expect(one("attributes.run_name = 'x'").value).toBe("x");
    expect(filterError("attributes.start_time = '5'")).toContain("'5'");
    expect(filterError("attributes.run_name = 5")).toContain("'5'");
  });

  test("experiments: attributes and tags", () => {
    expect(parseFilter("name = 'x' and tags.`owner` ILIKE '%ann%' and creation_time > 10", "experiment")).toEqual([
      { type: "attribute", key: "name", comparator: "=", value: "x" },
      { type: "tag", key: "owner", comparator: "ILIKE", value: "%ann%" },
      { type: "attribute", key: "creation_time", comparator: ">", value: 10 },
    ]);
    expect(one("attributes.last_update_time < 1", "experiment").value).toBe(1);
    expect(one("name LIKE 'a%'", "experiment").comparator).toBe("LIKE");
  });

  describe("errors name the offending token", () => {
    test("OR", () => {
      const reason = filterError("metrics.a > 1 OR metrics.b > 2");
      expect(reason).toMatch(/'OR' at position 14/);
      expect(reason).toMatch(/only AND/);
      expect(filterError("params.a = 'x' or params.b = 'y'")).toMatch(/'or'/);
    });

    test("missing value", () => {
      expect(filterError("metrics.a >")).toMatch(/'metrics\.a >'.*end of the expression/);
      expect(filterError("params.a =")).toMatch(/'params\.a ='.*end of the expression/);
      expect(filterError("params.a = AND params.b = 'x'")).toMatch(/'AND'/);
      expect(filterError("run_id IN")).toMatch(/IN/);
    });

    test("missing comparator", () => {
      expect(filterError("metrics.a 1")).toMatch(/'metrics\.a'.*'1'/);
      expect(filterError("params.a")).toMatch(/'params\.a'/);
      expect(filterError("tags.t IS 'x'")).toMatch(/'x'/);
    });

    test("metric compared to a string", () => {
      expect(filterError("metrics.a > 'x'")).toMatch(/number.*'x'/);
      expect(filterError('metrics.a = "1"')).toMatch(/number.*'1'/);
    });

    test("param or tag compared to a number", () => {
      expect(filterError("params.a = 1")).toMatch(/quoted string.*'1'/);
      expect(filterError("tags.t != 2.5")).toMatch(/quoted string.*'2\.5'/);
      expect(filterError("params.`a` = -3")).toMatch(/'-3'/);
    });

    test("unterminated quote", () => {
      expect(filterError("params.a = 'abc")).toMatch(/unterminated quote.*'abc/);
      expect(filterError('tags."a.b = \'x\'')).toMatch(/unterminated quote.*"a\.b/);
      expect(filterError("metrics.`loss > 1")).toMatch(/unterminated quote.*`loss/);
    });

    test("unknown prefix", () => {
      expect(filterError("foo.bar = 'x'")).toMatch(/'foo'/);
      expect(filterError("metricz.acc > 1")).toMatch(/'metricz'/);
      expect(orderError("bogus.key DESC")).toMatch(/'bogus'/);
    });

    test("trailing garbage", () => {
      expect(filterError("metrics.a > 1 xyz")).toMatch(/'xyz' at position 14/);
      expect(filterError("params.a = 'x' 'y'")).toMatch(/'y'/);
      expect(filterError("metrics.a > 1 AND")).toMatch(/end of the expression/);
      expect(filterError("metrics.a > 1 )")).toMatch(/'\)'/);
      expect(filterError("metrics.a > 1 ; drop table runs")).toMatch(/';'/);
    });

    test("LIKE, IN or IS NULL on a metric", () => {
      expect(filterError("metrics.a LIKE '1%'")).toMatch(/'LIKE'.*'metrics\.a'/);
      expect(filterError("metrics.a ILIKE '1%'")).toMatch(/'ILIKE'/);
      expect(filterError("metrics.a IS NULL")).toMatch(/'IS NULL'/);
      expect(filterError("metrics.a IN ('1')")).toMatch(/'IN'/);
    });

    test("IN on anything but run_id, or with a bad list", () => {
      expect(filterError("params.a IN ('x')")).toMatch(/'IN'.*'params\.a'/);
      expect(filterError("attributes.run_name IN ('x')")).toMatch(/'IN'.*'run_name'/);
      expect(filterError("run_id IN 'x'")).toMatch(/'\('.*'x'/);
      expect(filterError("run_id IN ('x' 'y')")).toMatch(/'y'/);
      expect(filterError("run_id IN ('x',)")).toMatch(/'\)'/);
      expect(filterError("run_id IN (1, 2)")).toMatch(/'1'/);
      expect(filterError("run_id IN ('x'")).toMatch(/end of the expression/);
    });

    test("ordering comparators on strings", () => {
      expect(filterError("params.a > 'x'")).toMatch(/'>'.*'params\.a'/);
      expect(filterError("attributes.status < 'x'")).toMatch(/'<'/);
    });

    test("experiments cannot be filtered on metrics or params", () => {
      expect(filterError("metrics.acc > 0.5", "experiment")).toMatch(/'metrics\.acc'.*attributes and tags only/);
      expect(filterError("params.lr = '1'", "experiment")).toMatch(/'params\.lr'/);
      expect(orderError("metrics.acc DESC", "experiment")).toMatch(/'metrics\.acc'/);
    });

    test("stray characters and empty keys", () => {
      expect(filterError("metrics.a > 1 & metrics.b > 2")).toMatch(/'&'/);
      expect(filterError("metrics. > 1")).toMatch(/'>'/);
      expect(filterError("= 'x'")).toMatch(/'='/);
      expect(filterError("tags.t IS NOT 'x'")).toMatch(/'NOT'/);
    });
  });
});

describe("parseOrderBy", () => {
  test("absent or empty lists order nothing", () => {
    expect(parseOrderBy(undefined, "run")).toEqual([]);
    expect(parseOrderBy([], "run")).toEqual([]);
    expect(parseOrderBy(["", "  "], "run")).toEqual([]);
  });

  test.each([
    ["metrics.acc", { type: "metric", key: "acc", ascending: true }],
    ["metrics.acc ASC", { type: "metric", key: "acc", ascending: true }],
    ["metrics.acc DESC", { type: "metric", key: "acc", ascending: false }],
    ["metrics.acc desc", { type: "metric", key: "acc", ascending: false }],
    ["metric.`my metric` asc", { type: "metric", key: "my metric", ascending: true }],
    ["params.lr DESC", { type: "param", key: "lr", ascending: false }],
    ["tags.\"a.b\" DESC", { type: "tag", key: "a.b", ascending: false }],
    ["tags.mlflow.runName", { type: "tag", key: "mlflow.runName", ascending: true }],
    ["metrics.val.loss DESC", { type: "metric", key: "val.loss", ascending: false }],
    ["start_time DESC", { type: "attribute", key: "start_time", ascending: false }],
    ["attributes.start_time", { type: "attribute", key: "start_time", ascending: true }],
    ["attribute.end_time ASC", { type: "attribute", key: "end_time", ascending: true }],
    ["run.run_name DESC", { type: "attribute", key: "run_name", ascending: false }],
    ["created DESC", { type: "attribute", key: "start_time", ascending: false }],
    ["  metrics.acc   DESC  ", { type: "metric", key: "acc", ascending: false }],
  ])("%s", (clause, expected) => {
    expect(parseOrderBy([clause], "run")).toEqual([expected]);
  });

  test("several clauses keep their order", () => {
    expect(parseOrderBy(["metrics.a DESC", "params.b", "start_time ASC"], "run")).toEqual([
      { type: "metric", key: "a", ascending: false },
      { type: "param", key: "b", ascending: true },
      { type: "attribute", key: "start_time", ascending: true },
    ]);
  });

  test("experiments order by attributes", () => {
    expect(parseOrderBy(["name", "creation_time DESC", "attributes.last_update_time ASC"], "experiment")).toEqual([
      { type: "attribute", key: "name", ascending: true },
      { type: "attribute", key: "creation_time", ascending: false },
      { type: "attribute", key: "last_update_time", ascending: true },
    ]);
  });

  test("errors name the offending token", () => {
    expect(orderError("metrics.acc DESCENDING")).toMatch(/'DESCENDING'/);
    expect(orderError("metrics.acc DESC ASC")).toMatch(/'ASC'/);
    expect(orderError("metrics.acc, params.b")).toMatch(/','/);
    expect(orderError("metrics.'acc' > 1")).toMatch(/'>'/);
    expect(orderError("metrics.`acc")).toMatch(/unterminated quote.*`acc/);
    expect(orderError("metrics.")).toMatch(/'metrics\.'.*end of the expression/);
  });
});

describe("datasets.* (runs)", () => {
  test("name, digest and context take strings, lists and patterns; 'dataset' and 'datasets' both name them", () => {
    expect(one("datasets.name = 'iris'")).toEqual({ type: "dataset", key: "name", comparator: "=", value: "iris" });
    expect(one("dataset.digest IN ('a', 'b')")).toEqual({ type: "dataset", key: "digest", comparator: "IN", value: ["a", "b"] });
    expect(one("datasets.context NOT IN ('eval')")).toEqual({ type: "dataset", key: "context", comparator: "NOT IN", value: ["eval"] });
    expect(one("datasets.`name` ILIKE '%Iris%'")).toEqual({ type: "dataset", key: "name", comparator: "ILIKE", value: "%Iris%" });
  });

  test("other keys, numeric comparators, unquoted values and other searches are refused, naming what is allowed", () => {
    expect(filterError("datasets.source = 'x'")).toMatch(/invalid dataset key 'source' .*datasets\.name, datasets\.digest, datasets\.context/);
    expect(filterError("datasets.name > 'x'")).toMatch(/comparator '>' .* not allowed for 'datasets.name' \(allowed: =, !=, LIKE, ILIKE, IN, NOT IN\)/);
    expect(filterError("datasets.name IS NULL")).toMatch(/not allowed for 'datasets.name'/);
    expect(filterError("datasets.digest = 12")).toMatch(/expected a quoted string after 'datasets.digest ='/);
    expect(filterError("datasets.name = 'x'", "experiment")).toMatch(/experiments can be searched by attributes and tags only/);
    expect(filterError("datasets.name = 'x'", "registry")).toMatch(/registered models and versions can be searched by attributes and tags only/);
  });
});
