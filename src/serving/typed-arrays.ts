/** The typed-array classes tensor data comes in, numbered: what the log ring and the thread hand-off record of a tensor's data. */

export type ArrayClass =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;
export type NumericArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** Decoded data has the class it was recorded with: its index here. */
export const ARRAY_CLASSES: readonly ArrayClass[] = [Float32Array, Float64Array, Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];

/** The index of `data`'s class in ARRAY_CLASSES, or -1 (not a typed array, or another class). */
export function arrayClassIndex(data: unknown): number {
  if (!ArrayBuffer.isView(data)) return -1;
  const ctor = (data as NumericArray).constructor;
  for (let i = 0; i < ARRAY_CLASSES.length; i++) if (ARRAY_CLASSES[i] === ctor) return i;
  return -1;
}
