/** V1 rows: `instances` stacked into one tensor, and output tensors split back into rows. */
import { badRequest } from "./errors.js";
import { flattenData, type RequestTensor, type ResponseTensor, type ResponseValue, type ServingTensorSpec } from "./tensors.js";

/** The shape nested arrays describe, read along their first elements: `[[1, 2], [3, 4]]` -> [2, 2]. */
export function shapeOfNested(value: unknown): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

/** Stacks `instances` (one row per item, each a value or nested list) into a request tensor for `spec`. */
export function rowsToInput(instances: unknown, spec: ServingTensorSpec): RequestTensor {
  if (!Array.isArray(instances) || instances.length === 0) {
    throw badRequest("'instances' must be a non-empty list of rows");
  }
  const rowShape = shapeOfNested(instances[0]);
  const rowSize = rowShape.reduce((n, d) => n * d, 1);
  instances.forEach((row, i) => {
    const got = flattenData(row).length;
    if (got !== rowSize || shapeOfNested(row).length !== rowShape.length) {
      throw badRequest(`instances[${i}] has ${got} values in ${shapeOfNested(row).length} dimensions; instances[0] has shape [${rowShape.join(", ")}] (every row must have the same shape)`);
    }
  });
  return { name: spec.name, datatype: spec.datatype, shape: [instances.length, ...rowShape], data: instances };
}

/** Row-major flat data as nested lists of `shape` (a scalar when `shape` is empty). */
export function nest(data: readonly ResponseValue[], shape: readonly number[], offset = 0): unknown {
  const [first, ...rest] = shape;
  if (first === undefined) return data[offset];
  const step = rest.reduce((n, d) => n * d, 1);
  return Array.from({ length: first }, (_, i) => nest(data, rest, offset + i * step));
}

/** An output as `n` rows along its first dimension; an output without that leading dimension is given whole in every row. */
export function tensorRows(t: ResponseTensor, n: number): unknown[] {
  const [lead, ...inner] = t.shape;
  if (lead !== n) {
    const whole = nest(t.data, t.shape);
    return Array.from({ length: n }, () => whole);
  }
  const step = inner.reduce((k, d) => k * d, 1);
  return Array.from({ length: n }, (_, i) => nest(t.data, inner, i * step));
}
