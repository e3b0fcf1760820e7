/**
 * The binary tensor data extension over HTTP: the fixture models answer binary requests exactly
 * as they answer JSON ones, every datatype round-trips as bytes through an Identity model, and
 * every malformed binary request is a 400 naming what is wrong.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { binaryBody, fixture, FIXTURE_MODELS, IDENTITY_DTYPES, identityOnnx, splitAnswer, startServingServer, tensorBytes, tensorValues, type Answer, type ServingServer } from "./serving-server.js";

const DATATYPE: Record<string, string> = {
  bool: "BOOL", int8: "INT8", int16: "INT16", int32: "INT32", int64: "INT64", uint8: "UINT8", uint16: "UINT16",
  uint32: "UINT32", uint64: "UINT64", float16: "FP16", float32: "FP32", float64: "FP64", string: "BYTES",
};

/** Values per dtype that JSON cannot carry exactly (or at all): FP16 bits, 64-bit extremes, raw floats. */
const VALUES: Record<string, (number | bigint | boolean | string)[]> = {
  bool: [true, false, true, true],
  int8: [-128, 0, 127, -1],
  int16: [-32768, 1, 32767, -2],
  int32: [-2147483648, 7, 2147483647, -3],
  int64: [-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -1n],
  uint8: [0, 1, 255, 128],
  uint16: [0, 1, 65535, 4096],
  uint32: [0, 1, 4294967295, 65536],
  uint64: [0n, 2n ** 64n - 1n, 2n ** 53n + 1n, 42n],
  // 1.0, NaN, -0, the smallest subnormal (raw half-precision bits).
  float16: [0x3c00, 0x7e00, 0x8000, 0x0001],
  float32: [0.1, Number.NaN, Number.NEGATIVE_INFINITY, -0],
  float64: [0.1, 1e300, Number.NaN, Number.MIN_VALUE],
  string: ["a", "héllo ✓", "", "x".repeat(300)],
};

describe("binary tensor data extension", () => {
  let server: ServingServer;
  const post = (path: string, header: unknown, parts: Uint8Array[], contentType?: string) => {
    const { body, headers } = binaryBody(header, parts, contentType);
    return server.send("POST", path, body, headers);
  };
  const expectError = (res: Answer, message: RegExp | string) => {
    expect(res.status, JSON.stringify(res.json)).toBe(400);
    expect(Object.keys(res.json)).toEqual(["error"]);
    expect(res.json.error).toMatch(message);
  };

  beforeAll(async () => {
    server = await startServingServer();
    for (const name of FIXTURE_MODELS) expect((await server.register(name.replace(/_/g, "-"), fixture(name).onnx)).status).toBe("READY");
    expect((await server.register("identity", identityOnnx())).status).toBe("READY");
  });
  afterAll(async () => {
    await server?.close();
  });

  for (const name of FIXTURE_MODELS) {
    test(`${name}: binary in and out equals the JSON path`, async () => {
      const { expected: fx } = fixture(name);
      const model = name.replace(/_/g, "-");
      const shape = [fx.inputs.length, fx.inputs[0]?.length ?? 0];
      const json = await server.call("POST", `/v2/models/${model}/infer`, { id: "j", inputs: [{ name: fx.input, shape, datatype: "FP32", data: fx.inputs }] });
      expect(json.status).toBe(200);
      expect(json.headers.get("inference-header-content-length")).toBeNull();

      const bytes = tensorBytes("FP32", fx.inputs.flat());
      const header = { id: "b", inputs: [{ name: fx.input, shape, datatype: "FP32", parameters: { binary_data_size: bytes.length } }], parameters: { binary_data_output: true } };
      const bin = await post(`/v2/models/${model}/infer`, header, [bytes]);
      expect(bin.status, bin.body.toString()).toBe(200);
      expect(bin.headers.get("content-type")).toBe("application/octet-stream");
      const { json: head, parts } = splitAnswer(bin);
      expect(head).toMatchObject({ model_name: model, model_version: json.json.model_version, id: "b" });
      expect(head.outputs.map((o: any) => o.name)).toEqual(fx.outputs);
      for (const [i, out] of (json.json.outputs as any[]).entries()) {
        const b = head.outputs[i];
        expect(b).toEqual({ name: out.name, shape: out.shape, datatype: out.datatype, parameters: { binary_data_size: parts[out.name]?.length } });
        const values = tensorValues(b.datatype, parts[out.name] as Buffer).map((v) => (typeof v === "bigint" ? Number(v) : v));
        expect(values, `${name} ${out.name}`).toEqual(out.data);
      }

      // Binary in, JSON out: the same JSON answer, no extension header.
      const mixed = await post(`/v2/models/${model}/infer`, { ...header, id: "j", parameters: undefined }, [bytes]);
      expect(mixed.status).toBe(200);
      expect(mixed.headers.get("inference-header-content-length")).toBeNull();
      expect(mixed.json).toEqual(json.json);
    });
  }

  test("requested outputs choose binary one by one (binary_data, binary_data_output, request default)", async () => {
    const { expected: fx } = fixture("iris_logreg");
    const input = { name: "float_input", shape: [2, 4], datatype: "FP32", data: fx.inputs.slice(0, 2) };
    const plain = await server.call("POST", "/v2/models/iris-logreg/infer", { inputs: [input] });
    // A JSON request may ask for binary outputs; `binary_data: false` overrides the request default.
    const res = await server.call("POST", "/v2/models/iris-logreg/infer", {
      inputs: [input],
      outputs: [{ name: "probabilities", parameters: { binary_data: true } }, { name: "label", parameters: { binary_data: false } }],
      parameters: { binary_data_output: true },
    });
    expect(res.status).toBe(200);
    const { json, parts } = splitAnswer(res);
    expect(json.outputs[0]).toEqual({ name: "probabilities", shape: [2, 3], datatype: "FP32", parameters: { binary_data_size: 24 } });
    expect(json.outputs[1]).toEqual(plain.json.outputs[0]);
    expect(tensorValues("FP32", parts.probabilities as Buffer)).toEqual(plain.json.outputs[1].data);
    const viaOutput = await server.call("POST", "/v2/models/iris-logreg/infer", { inputs: [input], outputs: [{ name: "label", parameters: { binary_data_output: true } }] });
    const label = splitAnswer(viaOutput);
    expect(label.json.outputs).toEqual([{ name: "label", shape: [2], datatype: "INT64", parameters: { binary_data_size: 16 } }]);
    expect(tensorValues("INT64", label.parts.label as Buffer).map(Number)).toEqual(plain.json.outputs[0].data);
  });

  test("every datatype round-trips as bytes through the Identity model (FP16 bits, 64-bit extremes, BOOL, BYTES)", async () => {
    const sent: Record<string, Buffer> = {};
    const inputs = IDENTITY_DTYPES.map((d) => {
      const bytes = tensorBytes(DATATYPE[d] as string, VALUES[d] as (number | bigint | boolean | string)[]);
      sent[`y_${d}`] = bytes;
      return { name: `x_${d}`, shape: [4], datatype: DATATYPE[d], parameters: { binary_data_size: bytes.length } };
    });
    // One input stays JSON between the binary ones: the binary parts are taken in input order regardless.
    const m = { name: "m", shape: [4, 2], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 7, 8] };
    const res = await post("/v2/models/identity/infer", { inputs: [...inputs.slice(0, 5), m, ...inputs.slice(5)], parameters: { binary_data_output: true } }, IDENTITY_DTYPES.map((d) => sent[`y_${d}`] as Buffer));
    expect(res.status, res.body.toString()).toBe(200);
    const { json, parts } = splitAnswer(res);
    for (const d of IDENTITY_DTYPES) {
      const out = json.outputs.find((o: any) => o.name === `y_${d}`);
      expect(out, d).toEqual({ name: `y_${d}`, shape: [4], datatype: DATATYPE[d], parameters: { binary_data_size: sent[`y_${d}`]?.length } });
      expect(parts[`y_${d}`]?.equals(sent[`y_${d}`] as Buffer), d).toBe(true);
    }
    expect(tensorValues("FP32", parts.m_out as Buffer)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

    // Binary FP16/INT64/BOOL/BYTES in, JSON out: the values JSON can carry (-0 prints as 0, 64-bit extremes round).
    const some = ["float16", "int64", "bool", "string"] as const;
    const back = await post(
      "/v2/models/identity/infer",
      {
        inputs: IDENTITY_DTYPES.map((d, i) => ((some as readonly string[]).includes(d) ? inputs[i] : { name: `x_${d}`, shape: [0], datatype: DATATYPE[d], data: [] })).concat([{ ...m, shape: [0, 2], data: [] }]),
        outputs: some.map((d) => ({ name: `y_${d}` })),
      },
      // The parts follow the inputs' order, not the outputs'.
      IDENTITY_DTYPES.filter((d) => (some as readonly string[]).includes(d)).map((d) => sent[`y_${d}`] as Buffer),
    );
    expect(back.status, back.body.toString()).toBe(200);
    expect(back.json.outputs).toEqual([
      { name: "y_float16", shape: [4], datatype: "FP16", data: [1, "NaN", 0, 2 ** -24] },
      { name: "y_int64", shape: [4], datatype: "INT64", data: [-(2 ** 63), 2 ** 63 - 1, 2 ** 53, -1] },
      { name: "y_bool", shape: [4], datatype: "BOOL", data: [true, false, true, true] },
      { name: "y_string", shape: [4], datatype: "BYTES", data: VALUES.string },
    ]);

    // JSON in, binary out: FP16 numbers come back as their half-precision bits.
    const jsonIn = await server.call("POST", "/v2/models/identity/infer", {
      inputs: IDENTITY_DTYPES.map((d) => ({ name: `x_${d}`, shape: [1], datatype: DATATYPE[d], data: d === "bool" ? [true] : d === "string" ? ["ü"] : [1] })).concat([{ ...m, shape: [1, 2], data: [1, 2] }]),
      outputs: [{ name: "y_float16", parameters: { binary_data: true } }, { name: "y_string", parameters: { binary_data: true } }],
    });
    const j = splitAnswer(jsonIn);
    expect(tensorValues("FP16", j.parts.y_float16 as Buffer)).toEqual([0x3c00]);
    expect(j.parts.y_string?.equals(Buffer.from([2, 0, 0, 0, 0xc3, 0xbc]))).toBe(true);
  });

  test("any Content-Type is read as binary when the header is there; octet-stream without it is JSON", async () => {
    const bytes = tensorBytes("FP32", [5.1, 3.5, 1.4, 0.2]);
    const header = { inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32", parameters: { binary_data_size: 16 } }], outputs: [{ name: "label" }] };
    for (const type of ["application/json", "text/plain", "application/x-whatever", "application/octet-stream"]) {
      const res = await post("/v2/models/iris-logreg/infer", header, [bytes], type);
      expect(res.status, type).toBe(200);
      expect(res.json.outputs[0].data, type).toEqual([0]);
    }
    const noType = await server.send("POST", "/v2/models/iris-logreg/infer", binaryBody(header, [bytes]).body, { "inference-header-content-length": String(JSON.stringify(header).length) });
    expect(noType.status).toBe(200);
    const octetJson = await server.call("POST", "/v2/models/iris-logreg/infer", { inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32", data: [5.1, 3.5, 1.4, 0.2] }] }, { "content-type": "application/octet-stream" });
    expect(octetJson.status).toBe(200);
  });

  test("malformed binary requests answer 400 naming what is wrong", async () => {
    const path = "/v2/models/iris-logreg/infer";
    const f32 = tensorBytes("FP32", [5.1, 3.5, 1.4, 0.2, 1, 2, 3, 4]);
    const input = (size: unknown, extra: Record<string, unknown> = {}) => ({ name: "float_input", shape: [2, 4], datatype: "FP32", parameters: { binary_data_size: size }, ...extra });
    const raw = (body: Buffer | string, length: string) => server.send("POST", path, Buffer.from(body), { "content-type": "application/octet-stream", "inference-header-content-length": length });
    const json = Buffer.from(JSON.stringify({ inputs: [input(32)] }));

    // The header length.
    expectError(await raw(Buffer.concat([json, f32]), String(json.length + 32 + 1)), `Inference-Header-Content-Length is ${json.length + 33} bytes, but the whole request body has only ${json.length + 32} bytes`);
    for (const bad of ["abc", "-1", "1.5", "0x10", "1e3", "12 34", "99999999999999999999"]) {
      expectError(await raw(Buffer.concat([json, f32]), bad), /^Inference-Header-Content-Length must be the length of the JSON header in bytes \(a non-negative integer\), got '/);
    }
    expectError(await raw(Buffer.concat([json, f32]), String(json.length - 3)), /malformed JSON/);
    expectError(await server.send("POST", path, Buffer.alloc(0), { "inference-header-content-length": "10" }), "Inference-Header-Content-Length is 10 bytes, but the whole request body has only 0 bytes");

    // Sizes against the binary part.
    expectError(await post(path, { inputs: [input(32)] }, [f32, Buffer.from([1, 2, 3, 4])]), "the inputs' parameters.binary_data_size add up to 32 bytes, but 36 bytes follow the JSON header");
    expectError(await post(path, { inputs: [input(32)] }, [f32.subarray(0, 20)]), "binary tensor data is truncated: input 'float_input' needs 32 bytes at offset 0, but only 20 bytes follow the JSON header");
    expectError(await post(path, { inputs: [{ name: "float_input", shape: [2, 4], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 7, 8] }] }, [f32]), "the inputs' parameters.binary_data_size add up to 0 bytes, but 32 bytes follow the JSON header");
    expectError(await post(path, { inputs: [input(24, { shape: [2, 4] })] }, [f32.subarray(0, 24)]), "input 'float_input': binary_data_size is 24 bytes, but shape [2, 4] of FP32 takes 8 x 4 = 32 bytes");
    expectError(await post(path, { inputs: [input(32, { shape: [1, 4] })] }, [f32]), "input 'float_input': binary_data_size is 32 bytes, but shape [1, 4] of FP32 takes 4 x 4 = 16 bytes");
    expectError(await post(path, { inputs: [input(32, { datatype: "FP64", shape: [1, 4] })] }, [f32]), "input 'float_input': expected datatype FP32, got FP64");
    for (const bad of [-1, 1.5, "32", null, true, 2 ** 60]) {
      expectError(await post(path, { inputs: [input(bad)] }, [f32]), /input 'float_input': parameters\.binary_data_size must be a non-negative integer|Invalid value for 'inputs\[0\]\.data'/);
    }
    expectError(await post(path, { inputs: [input(32, { data: [1, 2, 3, 4, 5, 6, 7, 8] })] }, [f32]), "input 'float_input': give either data or parameters.binary_data_size, not both");
    expectError(await server.call("POST", path, { inputs: [input(32)] }), "input 'float_input' has parameters.binary_data_size, but the request has no Inference-Header-Content-Length header, so no binary data follows the JSON");
    expectError(await server.call("POST", path, { inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32" }] }), "Invalid value for 'inputs[0].data': missing value for required parameter");

    // Output choices.
    const ok = { name: "float_input", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] };
    expectError(await server.call("POST", path, { inputs: [ok], parameters: { binary_data_output: "yes" } }), 'request: parameters.binary_data_output must be true or false, got "yes"');
    expectError(await server.call("POST", path, { inputs: [ok], outputs: [{ name: "label", parameters: { binary_data: 1 } }] }), "output 'label': parameters.binary_data must be true or false, got 1");
    expectError(await server.call("POST", path, { inputs: [ok], outputs: [{ name: "label", parameters: { binary_data: true, binary_data_output: false } }] }), "output 'label': parameters.binary_data and parameters.binary_data_output disagree");

    // Element contents, through the Identity model.
    const identity = async (d: string, shape: number[], bytes: Buffer) => {
      const inputs = IDENTITY_DTYPES.map((t) =>
        t === d ? { name: `x_${t}`, shape, datatype: DATATYPE[t], parameters: { binary_data_size: bytes.length } } : { name: `x_${t}`, shape: [0], datatype: DATATYPE[t], data: [] },
      );
      return post("/v2/models/identity/infer", { inputs: [...inputs, { name: "m", shape: [0, 2], datatype: "FP32", data: [] }] }, [bytes]);
    };
    const utf8 = (n: number, s: string) => Buffer.concat([Buffer.from([n, 0, 0, 0]), Buffer.from(s)]);
    expectError(await identity("string", [2], Buffer.concat([utf8(1, "a"), utf8(100, "abc")])), "input 'x_string': binary data is truncated: BYTES element 1 declares 100 bytes, but only 3 remain");
    expectError(await identity("string", [2], Buffer.concat([utf8(1, "a"), Buffer.from([1, 0])])), "input 'x_string': binary data is truncated: BYTES element 1 of 2 has no 4-byte length (binary_data_size is 7 bytes)");
    expectError(await identity("string", [1], Buffer.concat([utf8(1, "a"), Buffer.from([9])])), "input 'x_string': binary_data_size is 6 bytes, but its 1 BYTES elements take 5");
    expectError(await identity("string", [1], Buffer.from([2, 0, 0, 0, 0xc3, 0x28])), "input 'x_string': BYTES element 0 is not valid UTF-8");
    expectError(await identity("bool", [3], Buffer.from([1, 0, 2])), "input 'x_bool': BOOL element 2 is byte 2; only 0 (false) and 1 (true) are allowed");
    expectError(await identity("int64", [2], Buffer.alloc(12)), "input 'x_int64': binary_data_size is 12 bytes, but shape [2] of INT64 takes 2 x 8 = 16 bytes");
    expectError(await identity("float16", [3], Buffer.alloc(5)), "input 'x_float16': binary_data_size is 5 bytes, but shape [3] of FP16 takes 3 x 2 = 6 bytes");
    expectError(await identity("float16", [1e15, 1e15] as number[], Buffer.alloc(2)), "input 'x_float16': expected shape [-1], got [1000000000000000, 1000000000000000]");
    expectError(await identity("float16", [2 ** 52], Buffer.alloc(2)), /binary_data_size is 2 bytes, but shape \[4503599627370496\] of FP16 takes/);
    expectError(await identity("string", [2 ** 40], Buffer.alloc(0)), /BYTES element 0 of 1099511627776 has no 4-byte length/);

    // V1 takes JSON only.
    const v1 = await server.send("POST", "/v1/models/iris-logreg:predict", Buffer.concat([Buffer.from('{"instances":[[1,2,3,4]]}'), Buffer.from([1])]), { "inference-header-content-length": "25" });
    expectError(v1, "V1 predict takes a JSON body only; binary tensor data is for the V2 infer endpoint");

    // The server still answers.
    expect((await post(path, { inputs: [input(32)] }, [f32])).status).toBe(200);
  });
});
