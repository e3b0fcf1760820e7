/** The plain description of an ONNX model that buildOnnxModel encodes: value types, nodes, initializers. */
import type { TensorDtype } from "./inspect.js";

/** ONNX `TensorProto.DataType` code of each element type. */
export const ONNX_DATA_TYPE: Readonly<Record<TensorDtype, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
};

/** The default ("ai.onnx") operator domain. */
export const DEFAULT_DOMAIN = "";
/** The traditional-ML operator domain (LinearClassifier, TreeEnsembleClassifier, ZipMap...). */
export const ML_DOMAIN = "ai.onnx.ml";
export const DEFAULT_IR_VERSION = 8;
export const DEFAULT_OPSET = 17;
export const DEFAULT_ML_OPSET = 3;
export const DEFAULT_PRODUCER_NAME = "flywheel";

/**
 * One dimension of a tensor shape: a number is a fixed size (dim_value), a string a named
 * symbolic size such as "N" (dim_param), `null` an unknown size (a Dimension with neither).
 */
export type Dim = number | string | null;

/** The type of a graph input or output. */
export type ValueType =
  | {
      readonly kind: "tensor";
      readonly elemType: TensorDtype;
      /** Omit for a tensor of unknown rank. */
      readonly shape?: readonly Dim[];
    }
  | { readonly kind: "sequence"; readonly elem: ValueType }
  | { readonly kind: "map"; readonly keyType: TensorDtype; readonly value: ValueType };

export interface ValueInfoSpec {
  readonly name: string;
  readonly type: ValueType;
  readonly docString?: string;
}

/** A graph input/output holding a tensor. */
export function tensorInfo(name: string, elemType: TensorDtype, shape?: readonly Dim[]): ValueInfoSpec {
  return shape === undefined
    ? { name, type: { kind: "tensor", elemType } }
    : { name, type: { kind: "tensor", elemType, shape } };
}

/** A node attribute. */
export type AttributeValue =
  | { readonly type: "int"; readonly value: number | bigint }
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "ints"; readonly value: readonly (number | bigint)[] }
  | { readonly type: "floats"; readonly value: readonly number[] }
  | { readonly type: "strings"; readonly value: readonly string[] };

/** Constructors for {@link AttributeValue}s. */
export const attr = {
  int: (value: number | bigint): AttributeValue => ({ type: "int", value }),
  float: (value: number): AttributeValue => ({ type: "float", value }),
  string: (value: string): AttributeValue => ({ type: "string", value }),
  ints: (value: readonly (number | bigint)[]): AttributeValue => ({ type: "ints", value }),
  floats: (value: readonly number[]): AttributeValue => ({ type: "floats", value }),
  strings: (value: readonly string[]): AttributeValue => ({ type: "strings", value }),
} as const;

export interface NodeSpec {
  readonly opType: string;
  /** Input value names; "" stands for an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  /** Operator domain; "" (the default) is ai.onnx. */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  readonly docString?: string;
}

/** A named constant tensor. `values` is row-major with product(dims) elements. */
export type InitializerSpec =
  | {
      readonly name: string;
      readonly dtype: "float32";
      readonly dims: readonly number[];
      readonly values: ArrayLike<number>;
    }
  | {
      readonly name: string;
      readonly dtype: "float64";
      readonly dims: readonly number[];
      readonly values: ArrayLike<number>;
    }
  | {
      readonly name: string;
      readonly dtype: "int64";
      readonly dims: readonly number[];
      readonly values: ArrayLike<number | bigint>;
    }
  | {
      readonly name: string;
      readonly dtype: "int32";
      readonly dims: readonly number[];
      readonly values: ArrayLike<number>;
    };

export interface GraphSpec {
  readonly name: string;
  /** In topological order: every node input is a graph input, initializer or earlier output. */
  readonly nodes: readonly NodeSpec[];
  readonly initializers?: readonly InitializerSpec[];
  readonly inputs: readonly ValueInfoSpec[];
  readonly outputs: readonly ValueInfoSpec[];
  readonly docString?: string;
}

export interface OpsetImport {
  readonly domain: string;
  readonly version: number;
}

export interface ModelSpec {
  readonly graph: GraphSpec;
  /** Default {@link DEFAULT_IR_VERSION} (8). */
  readonly irVersion?: number;
  /**
   * Default: the default domain at opset 17, plus ai.onnx.ml at opset 3 when a node uses it.
   * When given, every domain a node uses must be listed.
   */
  readonly opsetImports?: readonly OpsetImport[];
  /** Default "flywheel". */
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
  /** Free-form key/value metadata (ModelProto.metadata_props). */
  readonly metadata?: Readonly<Record<string, string>>;
}
