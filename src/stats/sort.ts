/**
 * Sorting finite doubles, the dominant cost of the ECDF statistics on large samples. Above a few
 * thousand values this is an LSD radix sort on the IEEE-754 bit patterns (mapped so that unsigned
 * order is numeric order) over the top 48 of the 64 bits — four passes of 12 bits, a pass skipped
 * when every value shares its digit — followed by an insertion pass that orders values agreeing
 * in those 48 bits (rare, and only neighbours move). The order is Float64Array.prototype.sort's
 * for finite values, −0 before +0, at roughly half its CPU time on a million values.
 */

const RADIX_MIN = 4096;
const BUCKETS = 4096;

/** Sorts `a` ascending, in place, and returns it. Every value must be finite. */
export function sortFloat64(a: Float64Array): Float64Array {
  const n = a.length;
  if (n < RADIX_MIN) return a.sort();
  // The doubles as little-endian (low, high) 32-bit words.
  const words = new Uint32Array(a.buffer, a.byteOffset, n * 2);
  let keys = new Uint32Array(2 * n);
  let next = new Uint32Array(2 * n);
  const counts = new Uint32Array(4 * BUCKETS);
  for (let i = 0; i < n; i++) {
    let l = words[2 * i] as number;
    let h = words[2 * i + 1] as number;
    // Negative: flip every bit (a larger magnitude sorts first); positive: set the sign bit.
    if (h >= 0x80000000) {
      h = ~h >>> 0;
      l = ~l >>> 0;
    } else h = (h | 0x80000000) >>> 0;
    keys[2 * i] = l;
    keys[2 * i + 1] = h;
    const d0 = ((l >>> 16) | (h << 16)) & 0xfff;
    const d1 = ((l >>> 28) | (h << 4)) & 0xfff;
    const d2 = (h >>> 8) & 0xfff;
    const d3 = h >>> 20;
    counts[d0] = (counts[d0] as number) + 1;
    counts[BUCKETS + d1] = (counts[BUCKETS + d1] as number) + 1;
    counts[2 * BUCKETS + d2] = (counts[2 * BUCKETS + d2] as number) + 1;
    counts[3 * BUCKETS + d3] = (counts[3 * BUCKETS + d3] as number) + 1;
  }
  const offsets = new Uint32Array(BUCKETS);
  for (let p = 0; p < 4; p++) {
    const base = p * BUCKETS;
    // A digit every value shares reorders nothing.
    let trivial = false;
    for (let d = 0; d < BUCKETS; d++) {
      const c = counts[base + d] as number;
      if (c === n) trivial = true;
      if (c !== 0) break;
    }
    if (trivial) continue;
    let sum = 0;
    for (let d = 0; d < BUCKETS; d++) {
      offsets[d] = sum;
      sum += counts[base + d] as number;
    }
    if (p < 2) scatterMixed(keys, next, offsets, n, p === 0 ? 16 : 28, p === 0 ? 16 : 4);
    else scatterHigh(keys, next, offsets, n, p === 2 ? 8 : 20);
    [keys, next] = [next, keys];
  }
  for (let i = 0; i < n; i++) {
    let l = keys[2 * i] as number;
    let h = keys[2 * i + 1] as number;
    if (h >= 0x80000000) h = (h & 0x7fffffff) >>> 0;
    else {
      h = ~h >>> 0;
      l = ~l >>> 0;
    }
    words[2 * i] = l;
    words[2 * i + 1] = h;
  }
  // Values equal in their top 48 bits are still in input order: insertion-sort them (−0 and +0
  // differ in the sign bit, so the radix passes have already ordered them).
  for (let i = 1; i < n; i++) {
    const v = a[i] as number;
    if (v < (a[i - 1] as number)) {
      let j = i - 1;
      while (j >= 0 && (a[j] as number) > v) {
        a[j + 1] = a[j] as number;
        j--;
      }
      a[j + 1] = v;
    }
  }
  return a;
}

/** One pass on a digit drawn from both words: ((low >>> sl) | (high << sh)) & 0xfff. */
function scatterMixed(keys: Uint32Array, next: Uint32Array, offsets: Uint32Array, n: number, sl: number, sh: number): void {
  for (let i = 0; i < n; i++) {
    const l = keys[2 * i] as number;
    const h = keys[2 * i + 1] as number;
    const d = ((l >>> sl) | (h << sh)) & 0xfff;
    const o = offsets[d] as number;
    offsets[d] = o + 1;
    next[2 * o] = l;
    next[2 * o + 1] = h;
  }
}

/** One pass on a digit of the high word: (high >>> s) & 0xfff. */
function scatterHigh(keys: Uint32Array, next: Uint32Array, offsets: Uint32Array, n: number, s: number): void {
  for (let i = 0; i < n; i++) {
    const l = keys[2 * i] as number;
    const h = keys[2 * i + 1] as number;
    const d = (h >>> s) & 0xfff;
    const o = offsets[d] as number;
    offsets[d] = o + 1;
    next[2 * o] = l;
    next[2 * o + 1] = h;
  }
}
