/**
 * Host float32 kernels on WebAssembly SIMD (source: kernels.wat; bytes: the generated
 * kernels.wasm.ts, rebuilt by `npx tsx scripts/build-wasm.ts`). Loading is synchronous and does no
 * I/O: the module is compiled once per process and each `WasmKernels` instantiates it with its own
 * linear memory.
 *
 * Memory: a bump allocator of 16-byte-aligned float buffers (`alloc` returns a byte offset,
 * `mark`/`reset` free back to a mark). The memory grows only inside `alloc`, and growing detaches
 * every typed-array view of the old buffer: take views (`f32`) after allocating, or re-take them
 * when `buffer` has changed.
 */
import { KERNELS_WASM_BASE64 } from './kernels.wasm.js';

interface KernelExports {
  memory: WebAssembly.Memory;
  gemm(A: number, B: number, bias: number, biasStride: number, C: number, m: number, k: number, n: number): void;
  silu(X: number, Y: number, len: number, accumulate: number): void;
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
}
