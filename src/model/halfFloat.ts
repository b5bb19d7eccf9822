/**
 * Bit-exact conversions between fp32 and the two 16-bit float formats found in checkpoints:
 *
 *   fp16 (IEEE binary16): 1 sign, 5 exponent, 10 mantissa bits; max 65504, subnormals down to 2^-24.
 *   bf16 (bfloat16):      1 sign, 8 exponent,  7 mantissa bits; the top half of an fp32.
 *
 * fp32 → 16-bit rounds to nearest, ties to even; overflow goes to ±inf, NaN stays NaN (quiet).
 * Bulk functions work on whole typed arrays; all assume a little-endian host (checked in
 * safetensors.ts before any raw bytes are reinterpreted).
 */

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** fp32 bits → fp16 bits (round to nearest even). */
export function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  if (exp >= 143) return sign | 0x7c00; // ≥ 2^16: overflow to inf
  if (exp >= 113) {
    // normal fp16: exponent e = exp − 112 ∈ [1, 30]; a carry out of the mantissa bumps the
    // exponent (and turns 65520 and up into inf), which is the correct IEEE behaviour.
    let h = ((exp - 112) << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  if (exp < 102) return sign; // < 2^-25: rounds to (signed) zero
  // subnormal fp16: value = m·2^-24 with m = sig·2^(exp−150+24) = sig >> (126 − exp)
  const sig = mant | 0x800000;
  const shift = 126 - exp; // 14..24
  let h = sig >>> shift;
  const rem = sig & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) !== 0)) h++;
  return sign | h;
}

/** fp16 bits → fp32 value. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m !== 0 ? NaN : sign * Infinity;
  u32Scratch[0] = ((h & 0x8000) << 16) | ((e + 112) << 23) | (m << 13);
  return f32Scratch[0];
}

/** fp32 value → fp16 bits. */
export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToF16(u32Scratch[0]);
}

/** fp32 bits → bf16 bits (round to nearest even; NaN kept quiet). */
export function f32BitsToBf16(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bf16 bits → fp32 value. */
export function bf16ToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0];
}

let f16Table: Float32Array | null = null;

/** All 65536 fp16 values as fp32 (256 KiB, built on first use). */
function f16LookupTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

/** fp16 bits [n] → fp32 [n]. */
export function f16ArrayToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = f16LookupTable();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** bf16 bits [n] → fp32 [n]. */
export function bf16ArrayToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  // little-endian: the bf16 bits are the high half-word of each fp32, the low half-word is 0
  const halves = new Uint16Array(out.buffer, out.byteOffset, 2 * out.length);
  for (let i = 0; i < src.length; i++) {
    halves[2 * i] = 0;
    halves[2 * i + 1] = src[i];
  }
  return out;
}

/** fp32 [n] → fp16 bits [n]. */
export function f32ArrayToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16(bits[i]);
  return out;
}

/** fp32 [n] → bf16 bits [n]. */
export function f32ArrayToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16(bits[i]);
  return out;
}
