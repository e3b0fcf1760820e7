import { describe, expect, it } from "vitest";
import { FieldError } from "./fields.js";
import { pythonJsonDumps } from "./python-json.js";
import {
  describeSpec,
  numpyDtypeOf,
  parseSignatureJson,
  readSignature,
  schemaToJson,
  signatureFromGraph,
  signatureToDict,
  tensorDtypeOf,
} from "./signature.js";

describe("signatureFromGraph", () => {
  it("names every input and output tensor with its NumPy dtype and shape", () => {
    const sig = signatureFromGraph({
      inputs: [
        { name: "float_input", dtype: "float32", shape: [-1, 4] },
        { name: "text", dtype: "string", shape: [-1, 1] },
      ],
      outputs: [{ name: "label", dtype: "int64", shape: [-1] }],
    });
    expect(sig).toEqual({
      inputs: [
        { type: "tensor", name: "float_input", dtype: "float32", shape: [-1, 4] },
        { type: "tensor", name: "text", dtype: "object", shape: [-1, 1] },
      ],
      outputs: [{ type: "tensor", name: "label", dtype: "int64", shape: [-1] }],
    });
    expect(signatureToDict(sig)).toEqual({
      inputs:
        '[{"name": "float_input", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}, ' +
        '{"name": "text", "type": "tensor", "tensor-spec": {"dtype": "object", "shape": [-1, 1]}}]',
      outputs: '[{"name": "label", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]',
      params: null,
    });
  });
});

describe("dtypes", () => {
  it("maps NumPy names to ONNX element types and back", () => {
    for (const t of ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64"] as const) {
      expect(numpyDtypeOf(t)).toBe(t);
      expect(tensorDtypeOf(t)).toBe(t);
    }
    expect(numpyDtypeOf("string")).toBe("object");
    for (const s of ["object", "str", "<U0", "|S0", "bytes", "string"]) expect(tensorDtypeOf(s)).toBe("string");
    expect(tensorDtypeOf("complex64")).toBeUndefined();
    expect(tensorDtypeOf("datetime64[ns]")).toBeUndefined();
  });
});

describe("readSignature", () => {
  it("reads MLflow's to_dict form, decoded lists and the SDK form alike", () => {
    const expected = {
      inputs: [{ type: "tensor", name: "x", dtype: "float32", shape: [-1, 2] }],
      outputs: [{ type: "column", dataType: "double", required: true }],
    };
    expect(
      readSignature({
        inputs: '[{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]',
        outputs: '[{"type": "double", "required": true}]',
        params: null,
      }),
    ).toEqual(expected);
    expect(
      readSignature({
        inputs: [{ type: "tensor", name: "x", "tensor-spec": { dtype: "float32", shape: [-1, 2] } }],
        outputs: [{ type: "double" }],
      }),
    ).toEqual(expected);
    expect(
      readSignature({
        inputs: [{ type: "tensor", name: "x", dtype: "float32", shape: [-1, 2] }],
        outputs: [{ type: "column", dataType: "double", required: true }],
      }),
    ).toEqual(expected);
  });

  it("accepts one unnamed tensor but not several", () => {
    expect(readSignature({ inputs: [{ type: "tensor", dtype: "float64", shape: [-1, 4] }] })).toEqual({
      inputs: [{ type: "tensor", dtype: "float64", shape: [-1, 4] }],
    });
    expect(() =>
      readSignature({
        inputs: [
          { type: "tensor", dtype: "float64", shape: [-1] },
          { type: "tensor", dtype: "float64", shape: [-1] },
        ],
      }),
    ).toThrow("'signature.inputs' has several unnamed tensors");
    expect(() =>
      readSignature({
        inputs: [
          { type: "tensor", name: "a", dtype: "float64", shape: [-1] },
          { type: "tensor", dtype: "float64", shape: [-1] },
        ],
      }),
    ).toThrow("'signature.inputs' mixes named and unnamed entries");
  });

  it("names the bad field", () => {
    const bad = (v: unknown) => {
      try {
        readSignature(v);
      } catch (e) {
        expect(e).toBeInstanceOf(FieldError);
        return (e as FieldError).message;
      }
      throw new Error("no error");
    };
    expect(bad({ inputs: [{ type: "tensor", name: "x", dtype: "float32" }] })).toBe("'signature.inputs[0].shape' is required");
    expect(bad({ inputs: [{ type: "tensor", name: "x", "tensor-spec": { dtype: 1, shape: [] } }] })).toBe(
      "'signature.inputs[0].tensor-spec.dtype' must be a string (got number 1)",
    );
    expect(bad({ inputs: [{ type: "tensor", name: "x", dtype: "float32", shape: [-2] }] })).toBe(
      "'signature.inputs[0].shape[0]' must be an integer >= -1 (got number -2)",
    );
    expect(bad({ inputs: [] })).toBe("'signature.inputs' must list at least one input or output");
    expect(bad({ inputs: [{ type: "double", required: "yes" }] })).toBe(
      `'signature.inputs[0].required' must be true or false (got the string "yes")`,
    );
    expect(bad([])).toBe("'signature' must be a mapping (got a list)");
  });

  it("parses signature JSON files", () => {
    expect(parseSignatureJson('{"inputs": "[{\\"type\\": \\"long\\", \\"name\\": \\"n\\"}]"}')).toEqual({
      inputs: [{ type: "column", name: "n", dataType: "long", required: true }],
    });
    expect(() => parseSignatureJson("{inputs")).toThrow("'signature' is not valid JSON");
  });
});

describe("schemaToJson", () => {
  it("writes as Python's json.dumps: spaced separators, ASCII-only", () => {
    expect(schemaToJson([{ type: "column", name: "größe", dataType: "double", required: false }])).toBe(
      '[{"type": "double", "name": "gr\\u00f6\\u00dfe", "required": false}]',
    );
    expect(pythonJsonDumps({ a: [1, 2.5, null, true], "😀": "\u007f\n" })).toBe('{"a": [1, 2.5, null, true], "\\ud83d\\ude00": "\\u007f\\n"}');
  });

  it("describes specs on one line", () => {
    expect(describeSpec({ type: "tensor", name: "x", dtype: "float32", shape: [-1, 4] })).toBe("x float32 [-1, 4]");
    expect(describeSpec({ type: "column", dataType: "long", required: false })).toBe("(unnamed) long (optional)");
  });
});
