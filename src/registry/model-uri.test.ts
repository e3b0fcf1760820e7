import { describe, expect, test } from "vitest";
import { parseModelRef, parseModelUri, parseStage } from "./model-uri.js";

describe("models:/ URIs", () => {
  test("versions, aliases, latest and stages", () => {
    expect(parseModelUri("models:/churn/3")).toEqual({ name: "churn", kind: "version", version: "3" });
    expect(parseModelUri("models:/churn@champion")).toEqual({ name: "churn", kind: "alias", alias: "champion" });
    expect(parseModelUri("models:/churn/latest")).toEqual({ name: "churn", kind: "latest" });
    expect(parseModelUri("models:/churn/production")).toEqual({ name: "churn", kind: "stage", stage: "Production" });
    expect(parseModelUri("models:///my model/12")).toEqual({ name: "my model", kind: "version", version: "12" });
    expect(parseModelUri("models:/a@b@c")).toEqual({ name: "a@b", kind: "alias", alias: "c" });
    expect(parseModelRef("churn@champion")).toEqual({ name: "churn", kind: "alias", alias: "champion" });
    expect(parseModelRef("churn/2")).toEqual({ name: "churn", kind: "version", version: "2" });
    expect(parseStage("STAGING")).toBe("Staging");
    expect(parseStage("live")).toBeUndefined();
  });

  test("malformed URIs are refused with the reason", () => {
    for (const [uri, why] of [
      ["runs:/abc/model", "expected models:/"],
      ["models:/churn", "names a version"],
      ["models:/churn@", "names a version"],
      ["models:/@x", "names a version"],
      ["models:/churn/0", "not a version number"],
      ["models:/churn/v1", "not a version number"],
      ["models:/churn/", "must not be empty"],
    ] as const) {
      expect(() => parseModelUri(uri), uri).toThrow(why);
    }
  });
});
