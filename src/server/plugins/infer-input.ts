/**
 * The V2 inference request as the plugin reads it: the zod schemas that parse it (and describe it
 * in the OpenAPI document), and a hand-written check for the common request.
 */
import { z } from "zod";

const present = (v: unknown) => v !== undefined;
const parameters = z.record(z.string(), z.unknown()).optional();
const requestTensor = z
  .object({
    name: z.string().min(1),
    shape: z.array(z.number().int().nonnegative()),
    datatype: z.string().min(1),
    data: z.unknown().optional(),
    parameters,
  })
  // `data`, unless the tensor's bytes follow the JSON header (binary tensor data extension).
  .refine((t) => present(t.data) || present(t.parameters?.binary_data_size), { message: "missing value for required parameter", path: ["data"] });
const modelPath = { model: z.string(), version: z.string().optional() };
export const inferInput = z.object({
  // `inputs` first, so an empty body is reported as missing inputs.
  inputs: z.array(requestTensor).min(1),
  ...modelPath,
  id: z.string().optional(),
  parameters,
  outputs: z.array(z.object({ name: z.string().min(1), parameters })).optional(),
});
export const modelInput = z.object(modelPath);

export type InferInput = z.infer<typeof inferInput>;
type InferTensor = InferInput["inputs"][number];

/** A value JSON.parse made into an object (not an array, not null). */
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The common V2 request checked by hand: JSON tensors and no `parameters` anywhere. It accepts
 * only what the `inferInput` schema accepts, with the same values for every field the handler
 * reads; anything else (parameters, binary tensors, any field out of place) is left to the schema,
 * which words the error. Running the schema costs more than all of this on every small request.
 * `params`: the path parameters, which win over the body's fields of the same name.
 */
export function fastInferInput(raw: unknown, params?: Readonly<Record<string, string>>): InferInput | undefined {
  if (!isRecord(raw)) return undefined;
  const { inputs, id, outputs, parameters } = raw;
  // Path parameters win over the body's fields of the same name.
  const model = params !== undefined && "model" in params ? params.model : raw.model;
  const version = params !== undefined && "version" in params ? params.version : raw.version;
  if (parameters !== undefined || typeof model !== "string" || !Array.isArray(inputs) || inputs.length === 0) return undefined;
  if ((version !== undefined && typeof version !== "string") || (id !== undefined && typeof id !== "string")) return undefined;
  const tensors: InferTensor[] = [];
  for (const t of inputs as unknown[]) {
    if (!isRecord(t) || t.parameters !== undefined || t.data === undefined) return undefined;
    const { name, shape, datatype } = t;
    if (typeof name !== "string" || name === "" || typeof datatype !== "string" || datatype === "" || !Array.isArray(shape)) return undefined;
    for (const d of shape as unknown[]) if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) return undefined;
    tensors.push({ name, shape: shape as number[], datatype, data: t.data });
  }
  const input: InferInput = { inputs: tensors, model };
  if (version !== undefined) input.version = version;
  if (id !== undefined) input.id = id;
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) return undefined;
    const wanted: { name: string }[] = [];
    for (const o of outputs as unknown[]) {
      if (!isRecord(o) || o.parameters !== undefined || typeof o.name !== "string" || o.name === "") return undefined;
      wanted.push({ name: o.name });
    }
    input.outputs = wanted;
  }
  return input;
}
