/**
 * The row arena: one process-wide `WasmKernels` whose linear memory holds the reverse sampler's
 * host rows (Float32Array [n·d]), so that the elementwise passes over them (src/core/sphere.ts
 * projectCombineRows/retractRows/normalizeRows/tangentProjectRows, and `axpy`/`sumFloats` below)
 * run in the WASM SIMD kernels of kernels.wat. A host row function takes the kernel when every
 * array it is given is a view on the arena's current memory (and d % 4 = 0); otherwise it runs its
 * plain loop, which stays the reference.
 *
 * Lifetime: scopes. `openRowScope(reserve)` … `closeRowScope(id)` brackets one reverse run
 * (sampling/reverse.ts); `rowBuffer(len)` inside a scope hands out zeroed arena rows that live until
 * the scope closes, and closing frees everything allocated in it (a bump allocator reset to the
 * scope's mark), so a long generation never grows the memory past its largest run. Scopes nest
 * (last opened, first closed). Outside any scope `rowBuffer` returns a plain Float32Array.
 *
 * Views into WASM memory detach when the memory grows. The arena therefore grows only in
 * `openRowScope`, and only while no scope is open (nothing allocated, so no live view); inside a
 * scope an allocation that does not fit is served as a plain Float32Array (correct, on the plain
 * path) rather than growing. A view kept past its scope is stale: its memory is reused by the next
 * run, and after a grow it is detached — the host row functions throw on a detached arena view
 * rather than compute on nothing. Objects that keep rows across calls (integrator scratch, the
 * drift's fields) re-take them per scope: `rowScopeId()` changes with every scope.
 */
import { WasmKernels } from './wasm.js';

/** The arena never grows past this; larger runs fall back to plain arrays for what does not fit. */
export const MAX_ROW_ARENA_BYTES = 64 << 20;

interface Scope {
  id: number;
  mark: number;
}

class RowArena {
  readonly k = new WasmKernels();
  /** The memory's current buffer (replaced only by `grow`). */
  buffer: ArrayBuffer;
  /** Every buffer the memory had before a grow: views on them are detached. */
  readonly retired = new WeakSet<ArrayBuffer>();
  readonly scopes: Scope[] = [];
  nextId = 1;

  constructor() {
    this.buffer = this.k.buffer;
  }

  /** Grow to at least `bytes` (capped); only called with no scope open. */
  grow(bytes: number): void {
    const old = this.buffer;
    if (this.k.ensureCapacity(Math.min(bytes, MAX_ROW_ARENA_BYTES))) {
      this.retired.add(old);
      this.buffer = this.k.buffer;
    }
  }
}

let arena: RowArena | null = null;

function theArena(): RowArena {
  arena ??= new RowArena();
  return arena;
}

/** Bytes an allocation of `len` floats takes (16-byte aligned). */
function allocBytes(len: number): number {
  return (len * 4 + 15) & ~15;
}

/**
 * Open a row scope and return its id. `reserveFloats`: what the scope expects to allocate (`rowsFor`
 * counts the alignment); the arena grows to hold it (up to MAX_ROW_ARENA_BYTES) when no other scope
 * is open, and never otherwise.
 */
export function openRowScope(reserveFloats: number): number {
  const a = theArena();
  if (a.scopes.length === 0) a.grow(Math.max(0, reserveFloats) * 4);
  const id = a.nextId++;
  a.scopes.push({ id, mark: a.k.mark() });
  return id;
}

/** Close scope `id` (and any scope opened inside it and left open), freeing its rows. */
export function closeRowScope(id: number): void {
  const a = theArena();
  const at = a.scopes.findIndex((s) => s.id === id);
  if (at < 0) throw new Error(`closeRowScope: scope ${id} is not open`);
  const mark = a.scopes[at].mark;
  a.scopes.length = at;
  a.k.reset(mark);
}

/** Run `fn` inside a row scope (closed however `fn` ends). */
export function withRowScope<T>(reserveFloats: number, fn: () => T): T {
  const id = openRowScope(reserveFloats);
  try {
    return fn();
  } finally {
    closeRowScope(id);
  }
}

/** The id of the innermost open scope, 0 outside any (ids are never reused). */
export function rowScopeId(): number {
  const s = arena?.scopes;
  return s && s.length > 0 ? s[s.length - 1].id : 0;
}

/** Floats to reserve for `buffers` row buffers of `len` floats each (alignment included). */
export function rowsFor(buffers: number, len: number): number {
  return (buffers * allocBytes(len)) / 4;
}

/**
 * `len` zeroed floats: arena rows owned by the innermost scope when one is open and they fit,
 * else a plain Float32Array. Arena rows are valid until that scope closes.
 */
export function rowBuffer(len: number): Float32Array {
  const a = arena;
  if (a === null || a.scopes.length === 0 || a.k.mark() + allocBytes(len) > a.buffer.byteLength) return new Float32Array(len);
  const view = a.k.f32(a.k.alloc(len), len);
  view.fill(0);
  return view;
}

/** Arena state, for tests and diagnostics. */
export function rowArenaStats(): { capacityBytes: number; inUseBytes: number; openScopes: number } {
  const a = arena;
  return a ? { capacityBytes: a.buffer.byteLength, inUseBytes: a.k.mark(), openScopes: a.scopes.length } : { capacityBytes: 0, inUseBytes: 0, openScopes: 0 };
}

// ---- dispatch for the host row functions ----

/** The arena's kernels when `x` is a view on its current memory, else null. */
export function arenaKernelsFor(x: Float32Array): WasmKernels | null {
  return arena !== null && x.buffer === arena.buffer ? arena.k : null;
}

/** Whether `x` is a view on the arena's current memory. */
export function onArena(x: Float32Array): boolean {
  return arena !== null && x.buffer === arena.buffer;
}

/** Throws when `x` is an arena view detached by a grow (the plain loops would silently see length 0). */
export function assertAttached(x: Float32Array, what: string): void {
  if (x.byteLength === 0 && arena !== null && arena.retired.has(x.buffer as ArrayBuffer)) {
    throw new Error(`${what}: a row-arena view was used after the arena grew (detached); arena rows are only valid inside their row scope`);
  }
}

/** y += a·x (y.length floats; x at least as long). WASM when both are arena views. Returns y. */
export function axpy(x: Float32Array, y: Float32Array, a: number): Float32Array {
  const k = arenaKernelsFor(y);
  if (k !== null && onArena(x) && x.length >= y.length) {
    k.axpy(x.byteOffset, y.byteOffset, a, y.length);
    return y;
  }
  assertAttached(x, 'axpy');
  assertAttached(y, 'axpy');
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
  return y;
}

/**
 * Σ x, for non-finite detection: finite exactly when every value is finite, short of overflow (an
 * arena view is summed in float32 lanes, which overflow sooner than the float64 plain loop: a
 * caller that sees a non-finite sum must look closer).
 */
export function sumFloats(x: Float32Array): number {
  const k = arenaKernelsFor(x);
  if (k !== null) return k.sum(x.byteOffset, x.length);
  assertAttached(x, 'sumFloats');
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s;
}
