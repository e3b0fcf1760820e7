/**
 * The model server over HTTP: the fixture models registered through the MLflow API and served
 * over the Open Inference Protocol (V2) and V1, every datatype, alias moves, and bad input.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { IRIS_ONNX, irisMlmodel } from "../helpers/model-package.js";
import { binaryBody, expectClose, fixture, FIXTURE_MODELS, IDENTITY_DTYPES, identityOnnx, mlmodelFor, startServingServer, tensorBytes, type ServingServer } from "./serving-server.js";

describe("inference API (V2 and V1) on sqlite", () => {
  let server: ServingServer;
  const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    server.call(method, path, body, headers).then(({ status, json }) => ({ status, json }));
  const register = (name: string, onnx: Uint8Array, mlmodel?: string) => server.register(name, onnx, mlmodel);
  const setAlias = (name: string, alias: string, version: string) => server.setAlias(name, alias, version);

  beforeAll(async () => {
    server = await startServingServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  test("health and server metadata", async () => {
    expect(await call("GET", "/v2/health/live")).toEqual({ status: 200, json: { live: true } });
    expect(await call("GET", "/v2/health/ready")).toEqual({ status: 200, json: { ready: true } });
    const meta = await call("GET", "/v2");
    expect(meta.status).toBe(200);
    expect(meta.json).toMatchObject({ name: "flywheel", extensions: ["binary_tensor_data"] });
    expect(typeof meta.json.version).toBe("string");
  });

  for (const name of FIXTURE_MODELS) {
    test(`${name}: served over V2, V1 and the predict API, reproducing the reference values`, async () => {
      const { onnx, expected: fx } = fixture(name);
      const model = name.replace(/_/g, "-");
      const v = await register(model, onnx);
      expect(v.status).toBe("READY");

      const meta = await call("GET", `/v2/models/${model}`);
      expect(meta.status).toBe(200);
      expect(meta.json).toMatchObject({ name: model, versions: [v.version], platform: "onnxruntime" });
      expect(meta.json.inputs).toEqual([{ name: fx.input, datatype: "FP32", shape: [-1, fx.inputs[0]?.length] }]);
      expect(meta.json.outputs.map((o: any) => o.name)).toEqual(fx.outputs);
      expect(await call("GET", `/v2/models/${model}/versions/${v.version}/ready`)).toEqual({ status: 200, json: { name: model, ready: true } });

      const n = fx.inputs.length;
      const res = await call("POST", `/v2/models/${model}/versions/${v.version}/infer`, {
        id: `req-${name}`,
        inputs: [{ name: fx.input, shape: [n, fx.inputs[0]?.length], datatype: "FP32", data: fx.inputs }],
      });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ model_name: model, model_version: v.version, id: `req-${name}` });
      expect(res.json.outputs.map((o: any) => o.name)).toEqual(fx.outputs);
      for (const out of res.json.outputs) {
        const want = fx.expected[out.name] as unknown[];
        expect(out.shape[0]).toBe(n);
        if (out.name === "label") {
          expect(out.datatype).toBe("INT64");
          expect(out.data).toEqual(want);
        } else {
          expect(out.datatype).toBe("FP32");
          expectClose(out.data, want, `${name} V2 ${out.name}`);
        }
      }

      const v1 = await call("POST", `/v1/models/${model}:predict`, { instances: fx.inputs });
      expect(v1.status).toBe(200);
      expect(v1.json.predictions).toHaveLength(n);
      if (fx.outputs.length === 1) {
        expectClose(v1.json.predictions, fx.expected[fx.outputs[0] as string], `${name} V1`);
      } else {
        expect(v1.json.predictions.map((p: any) => p.label)).toEqual(fx.expected.label);
        expectClose(v1.json.predictions.map((p: any) => p.probabilities), fx.expected.probabilities, `${name} V1 probabilities`);
      }
      expect(await call("GET", `/v1/models/${model}`)).toEqual({ status: 200, json: { name: model, versions: [v.version], ready: true, status: "READY" } });

      // The predict API: the same rows as records by feature name, for a package with a feature list.
      const width = fx.inputs[0]?.length ?? 0;
      const names = Array.from({ length: width }, (_, j) => `f${j}`);
      const withFeatures = `${await mlmodelFor(onnx)}metadata:\n  flywheel:\n    features: [${names.join(", ")}]\n`;
      const pv = await register(`${model}-features`, onnx, withFeatures);
      expect(pv.status).toBe("READY");
      const records = fx.inputs.map((row) => Object.fromEntries(names.map((f, j) => [f, row[j]])));
      const predicted = await call("POST", `/api/v1/predict/${model}-features`, { records });
      expect(predicted.status, JSON.stringify(predicted.json)).toBe(200);
      expect(predicted.json.predictions).toHaveLength(n);
      if (fx.outputs.length === 1) {
        expectClose(predicted.json.predictions.map((p: any) => p.value), fx.expected[fx.outputs[0] as string], `${name} predict API`);
      } else {
        expect(predicted.json.predictions.map((p: any) => p.label)).toEqual(fx.expected.label);
        expectClose(
          predicted.json.predictions.map((p: any) => Object.values(p.probabilities)),
          fx.expected.probabilities,
          `${name} predict API probabilities`,
        );
      }
    });
  }

  test("requested outputs filter the response; nested and flat data give the same answer", async () => {
    const { expected: fx } = fixture("iris_logreg");
    const rows = fx.inputs.slice(0, 3);
    const flat = await call("POST", "/v2/models/iris-logreg/infer", {
      inputs: [{ name: "float_input", shape: [3, 4], datatype: "FP32", data: rows.flat() }],
      outputs: [{ name: "probabilities" }],
    });
    expect(flat.status).toBe(200);
    expect(flat.json.outputs).toHaveLength(1);
    expect(flat.json.outputs[0]).toMatchObject({ name: "probabilities", shape: [3, 3], datatype: "FP32" });
    expect(flat.json.id).toBeUndefined();
    const nested = await call("POST", "/v2/models/iris-logreg/infer", {
      inputs: [{ name: "float_input", shape: [3, 4], datatype: "FP32", data: rows }],
      outputs: [{ name: "label" }, { name: "probabilities" }],
    });
    expect(nested.json.outputs.map((o: any) => o.name)).toEqual(["label", "probabilities"]);
    expect(nested.json.outputs[1].data).toEqual(flat.json.outputs[0].data);
    // Content-Type is not required.
    const noType = await call("POST", "/v2/models/iris-logreg/infer", JSON.stringify({ inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32", data: rows[0] }] }), {});
    expect(noType.status).toBe(200);
  });

  test("every datatype ONNX Runtime takes round-trips through an Identity model", async () => {
    const dtypes = IDENTITY_DTYPES;
    const v = await register("identity", identityOnnx());
    expect(v.status).toBe("READY");
    const sent: Record<string, { datatype: string; data: unknown[]; back: unknown[] }> = {
      bool: { datatype: "BOOL", data: [true, false, true], back: [true, false, true] },
      int8: { datatype: "INT8", data: [-128, 0, 127], back: [-128, 0, 127] },
      int16: { datatype: "INT16", data: [-32768, 1, 32767], back: [-32768, 1, 32767] },
      int32: { datatype: "INT32", data: [-2147483648, 7, 2147483647], back: [-2147483648, 7, 2147483647] },
      int64: { datatype: "INT64", data: [-9007199254740991, "123", 9007199254740991], back: [-9007199254740991, 123, 9007199254740991] },
      uint8: { datatype: "UINT8", data: [0, 1, 255], back: [0, 1, 255] },
      uint16: { datatype: "UINT16", data: [0, 1, 65535], back: [0, 1, 65535] },
      uint32: { datatype: "UINT32", data: [0, 1, 4294967295], back: [0, 1, 4294967295] },
      uint64: { datatype: "UINT64", data: [0, 9007199254740991, "18446744073709551615"], back: [0, 9007199254740991, Number(2n ** 64n - 1n)] },
      float16: { datatype: "FP16", data: [0.1, 65504, "-Infinity"], back: [0.0999755859375, 65504, "-Infinity"] },
      float32: { datatype: "FP32", data: [0.1, -2.25, "NaN"], back: [Math.fround(0.1), -2.25, "NaN"] },
      float64: { datatype: "FP64", data: [0.1, 1e300, -0.5], back: [0.1, 1e300, -0.5] },
      string: { datatype: "BYTES", data: ["a", "héllo ✓", ""], back: ["a", "héllo ✓", ""] },
    };
    const inputs = [
      ...dtypes.map((d) => ({ name: `x_${d}`, shape: [3], datatype: sent[d]?.datatype, data: sent[d]?.data })),
      { name: "m", shape: [3, 2], datatype: "FP32", data: [[1, 2], [3, 4], [5, 6]] },
    ];
    const meta = await call("GET", "/v2/models/identity");
    expect(meta.json.inputs.map((i: any) => i.datatype)).toEqual([...dtypes.map((d) => sent[d]?.datatype), "FP32"]);
    const res = await call("POST", "/v2/models/identity/infer", { inputs });
    expect(res.status).toBe(200);
    for (const d of dtypes) {
      const out = res.json.outputs.find((o: any) => o.name === `y_${d}`);
      expect(out, d).toEqual({ name: `y_${d}`, shape: [3], datatype: sent[d]?.datatype, data: sent[d]?.back });
    }
    expect(res.json.outputs.at(-1)).toEqual({ name: "m_out", shape: [3, 2], datatype: "FP32", data: [1, 2, 3, 4, 5, 6] });

    const bad = async (patch: Record<string, unknown>, message: RegExp | string) => {
      const res2 = await call("POST", "/v2/models/identity/infer", { inputs: inputs.map((i) => (i.name === patch.name ? { ...i, ...patch } : i)) });
      expect(res2.status, JSON.stringify(patch)).toBe(400);
      expect(res2.json.error).toMatch(message);
    };
    await bad({ name: "x_int8", data: [1, 2, 300] }, "input 'x_int8': data[2] must be an integer from -128 to 127 (got 300)");
    await bad({ name: "x_uint8", data: [1, -1, 3] }, /data\[1\] must be an integer from 0 to 255/);
    await bad({ name: "x_int32", data: [1, 2.5, 3] }, /data\[1\] must be an integer/);
    await bad({ name: "x_int64", data: [1, 2 ** 60, 3] }, /data\[1\] must be an integer .* decimal string/);
    await bad({ name: "x_uint64", data: [1, "18446744073709551616", 3] }, /x_uint64.*data\[1\]/);
    await bad({ name: "x_bool", data: [1, 0, 1] }, "input 'x_bool': data[0] must be true or false (got 1)");
    await bad({ name: "x_string", data: ["a", 1, "c"] }, /x_string.*data\[1\] must be a string/);
    await bad({ name: "x_float32", data: [1, "x", 3] }, /data\[1\] must be a number/);
    await bad({ name: "x_float16", datatype: "FP32" }, "input 'x_float16': expected datatype FP16, got FP32");
    await bad({ name: "m", shape: [3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, "input 'm': expected shape [-1, 2], got [3, 3]");
    const missing = await call("POST", "/v2/models/identity/infer", { inputs: inputs.filter((i) => i.name !== "x_bool") });
    expect(missing).toEqual({ status: 400, json: { error: "missing input 'x_bool' (expected BOOL [-1])" } });
    const twice = await call("POST", "/v2/models/identity/infer", { inputs: [...inputs, inputs[0]] });
    expect(twice).toEqual({ status: 400, json: { error: "input 'x_bool' is given more than once" } });
    // V1 needs a single-input model.
    const v1 = await call("POST", "/v1/models/identity:predict", { instances: [[1]] });
    expect(v1.status).toBe(400);
    expect(v1.json.error).toMatch(/takes 14 inputs.*V2/);
  });

  test("an alias is followed when it moves, without a restart (name@alias and %40)", async () => {
    const a = await register("moving", IRIS_ONNX, irisMlmodel());
    const b = await register("moving", fixture("mlp_8x16x3").onnx);
    await setAlias("moving", "blue", a.version);
    const before = await call("GET", "/v2/models/moving@blue");
    expect(before.json).toMatchObject({ versions: [a.version], inputs: [{ name: "float_input" }] });
    const infer = await call("POST", "/v2/models/moving%40blue/infer", { inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32", data: [5.1, 3.5, 1.4, 0.2] }] });
    expect(infer.json).toMatchObject({ model_name: "moving", model_version: a.version });
    await setAlias("moving", "blue", b.version);
    const after = await call("GET", "/v2/models/moving%40blue");
    expect(after.json).toMatchObject({ versions: [b.version], inputs: [{ name: "input", datatype: "FP32", shape: [-1, 8] }] });
    const v1 = await call("POST", "/v1/models/moving@blue:predict", { instances: [[0, 0, 0, 0, 0, 0, 0, 0]] });
    expect(v1.status).toBe(200);
    expect(v1.json.predictions[0]).toHaveLength(3);
    expect((await call("GET", "/v1/models/moving@blue")).json).toMatchObject({ versions: [b.version], ready: true });
    // The latest version is served when none is named; an explicit version still reaches the old one.
    expect((await call("GET", "/v2/models/moving")).json.versions).toEqual([b.version]);
    expect((await call("GET", `/v2/models/moving/versions/${a.version}`)).json.versions).toEqual([a.version]);
    expect((await call("POST", `/v1/models/moving/versions/${a.version}:predict`, { instances: [[5.1, 3.5, 1.4, 0.2]] })).json.predictions[0].label).toBe(0);
  });

  test("NaN where the package forbids it (allow_nan: false) is a 400 naming the input and element, over V2 JSON, binary and V1; other models take it", async () => {
    await register("no-nan", IRIS_ONNX, irisMlmodel("metadata:\n  flywheel:\n    allow_nan: false\n"));
    await register("nan-ok", IRIS_ONNX, irisMlmodel());
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.2, 2.9, "NaN", 1.3],
    ];
    const body = { inputs: [{ name: "float_input", shape: [2, 4], datatype: "FP32", data: rows }] };
    const refused = await call("POST", "/v2/models/no-nan/infer", body);
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe("input 'float_input' holds NaN at element 6; model 'no-nan' version 1 does not take NaN (its package sets allow_nan: false)");
    const binary = binaryBody({ inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32", parameters: { binary_data_size: 16 } }] }, [tensorBytes("FP32", [1, Number.NaN, 2, 3])]);
    const refusedBinary = await server.send("POST", "/v2/models/no-nan/infer", binary.body, binary.headers);
    expect(refusedBinary.status).toBe(400);
    expect(refusedBinary.json.error).toMatch(/^input 'float_input' holds NaN at element 1;/);
    const refusedV1 = await call("POST", "/v1/models/no-nan:predict", { instances: rows });
    expect(refusedV1.status).toBe(400);
    expect(refusedV1.json.error).toMatch(/holds NaN at element 6/);
    // Without NaN the same model answers; a model whose package says nothing takes NaN.
    expect((await call("POST", "/v2/models/no-nan/infer", { inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32", data: rows[0] }] })).status).toBe(200);
    expect((await call("POST", "/v2/models/nan-ok/infer", body)).status).toBe(200);
  });

  test("bad requests answer 400/404 with {error}, never a 500", async () => {
    const ok = { name: "float_input", shape: [2, 4], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 7, 8] };
    const infer = (body: unknown, model = "iris-logreg") => call("POST", `/v2/models/${model}/infer`, body);
    const expectError = (res: { status: number; json: any }, status: number, message: RegExp | string) => {
      expect(res.status).toBe(status);
      expect(Object.keys(res.json)).toEqual(["error"]);
      expect(res.json.error).toMatch(message);
    };
    expectError(await infer('{"inputs": [ {"name": '), 400, /malformed JSON/);
    expectError(await infer(""), 400, /inputs/);
    expectError(await infer([1, 2]), 400, /expected object/);
    expectError(await infer({ inputs: "x" }), 400, /inputs/);
    expectError(await infer({ inputs: [] }), 400, /inputs/);
    expectError(await infer({ inputs: [{ ...ok, shape: [2, -4] }] }), 400, /inputs\[0\]\.shape\[1\]/);
    expectError(await infer({ inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32" }] }), 400, /inputs\[0\]\.data/);
    expectError(await infer({ inputs: [{ ...ok, datatype: "FP64" }] }), 400, "input 'float_input': expected datatype FP32, got FP64");
    expectError(await infer({ inputs: [{ ...ok, shape: [1, 8] }] }), 400, "input 'float_input': expected shape [-1, 4], got [1, 8]");
    expectError(await infer({ inputs: [{ ...ok, shape: [8] }] }), 400, "input 'float_input': expected shape [-1, 4], got [8]");
    expectError(await infer({ inputs: [{ ...ok, data: [1, 2, 3, 4, 5, 6, 7] }] }), 400, "input 'float_input': shape [2, 4] holds 8 elements, data has 7");
    expectError(await infer({ inputs: [{ ...ok, name: "features" }] }), 400, "unknown input 'features'; the model takes float_input FP32 [-1, 4]");
    expectError(await infer({ inputs: [ok], outputs: [{ name: "scores" }] }), 400, "unknown output 'scores'; the model's outputs are 'label', 'probabilities'");
    expectError(await infer({ inputs: [ok], id: 7 }), 400, /id/);
    expectError(await infer({ inputs: [ok] }, "no-such-model"), 404, /no-such-model/);
    expectError(await call("POST", "/v2/models/iris-logreg/versions/99/infer", { inputs: [ok] }), 404, /version=99/);
    expectError(await call("POST", "/v2/models/iris-logreg/versions/abc/infer", { inputs: [ok] }), 400, /version must be a positive integer/);
    expectError(await infer({ inputs: [ok] }, "iris-logreg@nope"), 404, /alias nope/);
    expectError(await infer({ inputs: [ok] }, "iris-logreg@"), 400, /<name>@<alias>/);
    expectError(await call("GET", "/v2/models/iris-logreg/ready/extra"), 404, /no inference endpoint/);
    expectError(await call("GET", "/v2/models/iris-logreg/infer"), 404, /no inference endpoint/);

    const broken = await register("broken", IRIS_ONNX.subarray(0, 300), irisMlmodel());
    expect(broken.status).toBe("FAILED_REGISTRATION");
    expectError(await infer({ inputs: [ok] }, "broken"), 400, /model 'broken' version 1 cannot be served: its status is FAILED_REGISTRATION/);
    expectError(await call("GET", "/v2/models/broken/ready"), 400, /FAILED_REGISTRATION/);
    expectError(await call("GET", "/v2/models/broken"), 400, /FAILED_REGISTRATION/);
    expect(await call("GET", "/v1/models/broken")).toMatchObject({ status: 200, json: { ready: false, status: "FAILED_REGISTRATION" } });

    const predict = (body: unknown, model = "iris-logreg") => call("POST", `/v1/models/${model}:predict`, body);
    expectError(await predict({ rows: [] }), 400, /'instances'/);
    expectError(await predict({ instances: [] }), 400, /non-empty list/);
    expectError(await predict({ instances: [[1, 2, 3, 4], [1, 2, 3]] }), 400, /instances\[1\] has 3 values/);
    expectError(await predict({ instances: [[1, 2, 3]] }), 400, "input 'float_input': expected shape [-1, 4], got [1, 3]");
    expectError(await predict({ instances: [[1, 2, "x", 4]] }), 400, /data\[2\] must be a number/);
    expectError(await predict("{nope"), 400, /malformed JSON/);
    expectError(await predict({ instances: [[1, 2, 3, 4]] }, "nobody"), 404, /nobody/);
    expectError(await call("POST", "/v1/models/iris-logreg:explain", { instances: [[1, 2, 3, 4]] }), 404, /no inference endpoint/);
    expectError(await call("GET", "/v1/models/nobody"), 404, /nobody/);
    expectError(await call("GET", "/v1/other"), 404, /no inference endpoint/);
    // A URL that is not valid percent-encoding is refused by the router itself (a 400 in Fastify's shape).
    expect((await call("GET", "/v1/models/a%zz")).status).toBe(400);

    // The server still answers after all of that.
    expect((await infer({ inputs: [ok] })).status).toBe(200);
  });
});
