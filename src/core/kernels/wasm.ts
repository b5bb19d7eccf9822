/**
 * Host float32 kernels on WebAssembly SIMD: gemm and silu (the host score network), the reverse
 * sampler's row passes projectCombine, retract, axpy and sum (used through src/core/kernels/rows.ts),
 * and the ziggurat fast path of its Gaussian noise (gaussFill, used by sampling/gaussian.ts).
 * Source: kernels.wat; bytes: the generated kernels.wasm.ts, rebuilt by
 * `npx tsx scripts/build-wasm.ts`. Loading is synchronous and does no
 * I/O: the module is compiled once per process and each `WasmKernels` instantiates it with its own
 * linear memory.
 *
 * Memory: a bump allocator of 16-byte-aligned float buffers (`alloc` returns a byte offset,
 * `mark`/`reset` free back to a mark). The memory grows only inside `alloc` and `ensureCapacity`,
 * and growing detaches every typed-array view of the old buffer: take views (`f32`) after
 * allocating, or re-take them when `buffer` has changed.
 */
import { KERNELS_WASM_BASE64 } from './kernels.wasm.js';

interface KernelExports {
  memory: WebAssembly.Memory;
  gemm(A: number, B: number, bias: number, biasStride: number, C: number, m: number, k: number, n: number): void;
  silu(X: number, Y: number, len: number, accumulate: number): void;
  project_combine(S: number, G: number, s: number, xi: number, out: number, a: number, b: number, g: number, n: number, d: number): void;
  retract(S: number, v: number, w: number, out: number, n: number, d: number): void;
  axpy(x: number, y: number, a: number, len: number): void;
  sum(x: number, len: number): number;
  gauss_fill(tab: number, st: number, out: number, n: number, std: number): number;
}

let compiled: WebAssembly.Module | null = null;

/** The compiled kernel module (compiled on first use, then shared). */
export function kernelModule(): WebAssembly.Module {
  if (!compiled) {
    const bin = atob(KERNELS_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

const PAGE = 65536;

export class WasmKernels {
  private readonly ex: KernelExports;
  private top = 0;

  constructor() {
    this.ex = new WebAssembly.Instance(kernelModule(), {}).exports as unknown as KernelExports;
  }

  /** The current memory buffer (a new object after every grow). */
  get buffer(): ArrayBuffer {
    return this.ex.memory.buffer;
  }

  /** Reserve `floats` float32s, 16-byte aligned, growing the memory when needed; returns the byte offset. */
  alloc(floats: number): number {
    if (!(floats >= 0) || !Number.isInteger(floats)) throw new Error(`WasmKernels.alloc: bad size ${floats}`);
    const ptr = this.top;
    const end = ptr + ((floats * 4 + 15) & ~15);
    const have = this.ex.memory.buffer.byteLength;
    if (end > have) this.ex.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return ptr;
  }

  /**
   * Grow the memory (if needed) to at least `bytes`; returns whether it grew. Growing detaches every
   * view of the old buffer.
   */
  ensureCapacity(bytes: number): boolean {
    const have = this.ex.memory.buffer.byteLength;
    if (bytes <= have) return false;
    this.ex.memory.grow(Math.ceil((bytes - have) / PAGE));
    return true;
  }

  /** The allocation mark: `reset(mark())` later frees everything allocated in between. */
  mark(): number {
    return this.top;
  }

  reset(mark: number): void {
    if (mark < 0 || mark > this.top || mark % 16 !== 0) throw new Error(`WasmKernels.reset: bad mark ${mark}`);
    this.top = mark;
  }

  /** A float32 view of `len` floats at byte offset `ptr` (invalid after the memory grows). */
  f32(ptr: number, len: number): Float32Array {
    return new Float32Array(this.ex.memory.buffer, ptr, len);
  }

  /**
   * C[m,n] = bias_i + A[m,k]·B[k,n] (row-major; bias_i at bias + i·biasStride floats: 0 broadcasts
   * one [n] row, n gives per-row biases). n a multiple of 4; C may alias the bias rows, not A or B.
   */
  gemm(A: number, B: number, bias: number, biasStride: number, C: number, m: number, k: number, n: number): void {
    if (n % 4 !== 0) throw new Error(`WasmKernels.gemm: n = ${n} is not a multiple of 4`);
    if ((A | B | bias | C) % 16 !== 0) throw new Error('WasmKernels.gemm: pointers must be 16-byte aligned');
    this.ex.gemm(A, B, bias, biasStride, C, m, k, n);
  }

  /** Y = silu(X), or Y += silu(X) with `accumulate`; len a multiple of 4 (pad buffers). X = Y allowed. */
  silu(X: number, Y: number, len: number, accumulate = false): void {
    if (len % 4 !== 0) throw new Error(`WasmKernels.silu: len = ${len} is not a multiple of 4 (pad the buffer)`);
    this.ex.silu(X, Y, len, accumulate ? 1 : 0);
  }

  // ---- sampler rows: n rows of d floats (d a multiple of 4), pointers are byte offsets ----

  /**
   * out_i = v − (S_i·v) S_i with v = a·G_i + b·s_i + g·xi_i, per row (f32; the dot summed in four
   * lanes). out may alias G, s or xi, not S.
   */
  projectCombine(S: number, G: number, s: number, xi: number, out: number, a: number, b: number, g: number, n: number, d: number): void {
    if (d % 4 !== 0) throw new Error(`WasmKernels.projectCombine: d = ${d} is not a multiple of 4`);
    this.ex.project_combine(S, G, s, xi, out, a, b, g, n, d);
  }

  /** out_i = (S_i + w·v_i)/|S_i + w·v_i| per row (1/|·| taken in f64). out may alias S or v. */
  retract(S: number, v: number, w: number, out: number, n: number, d: number): void {
    if (d % 4 !== 0) throw new Error(`WasmKernels.retract: d = ${d} is not a multiple of 4`);
    this.ex.retract(S, v, w, out, n, d);
  }

  /** y += a·x over `len` floats (any len). */
  axpy(x: number, y: number, a: number, len: number): void {
    this.ex.axpy(x, y, a, len);
  }

  /** Σ x over `len` floats, summed in f32 (for non-finite detection: a finite sum may still overflow). */
  sum(x: number, len: number): number {
    return this.ex.sum(x, len);
  }

  /**
   * Ziggurat normals, fast path only: out[i] = f32(hz·WN[iz]·std) from two xoshiro128** words per
   * draw, with the tables KN (128 u32) at byte offset `tab` and WN (128 f64) at `tab` + 512, the
   * state s0..s3 (4 i32) at `st` (advanced in place). Stops at the first draw outside the fast path,
   * leaving its hz at `st` + 16 and iz at `st` + 20 (state already past it), and returns its index;
   * returns n when all n values are written. `out` holds n floats.
   */
  gaussFill(tab: number, st: number, out: number, n: number, std: number): number {
    if ((tab | st) % 16 !== 0 || out % 4 !== 0) throw new Error('WasmKernels.gaussFill: tab and st must be 16-byte aligned, out 4-byte');
    return this.ex.gauss_fill(tab, st, out, n, std);
  }
}
