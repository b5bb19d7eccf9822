/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written with plain
 * typed arrays:
 *
 *   [u64 LE: header length N] [N bytes: JSON header, space-padded] [data region]
 *   header = { "__metadata__"?: {str: str}, name: {dtype, shape, data_offsets: [begin, end]} ... }
 *
 * Offsets are relative to the start of the data region. Reading never loads the whole file:
 * the header comes from one small read, and each tensor's bytes are read on demand straight into
 * its own buffer (fp32: into the Float32Array itself; fp16/bf16/f64: into a temporary buffer
 * converted to a fresh Float32Array), so peak memory stays about one fp32 copy of the model.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { endianness } from 'node:os';
import { UserError } from '../errors.js';
import { atomicWrite } from '../io/atomic.js';
import type { HostTensor } from './weights.js';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from './halfFloat.js';

/** Bytes per element of every dtype the format defines. */
const DTYPE_SIZE: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};
/** Dtypes that can be read as fp32. */
const READABLE = new Set(['F32', 'F16', 'BF16', 'F64']);
/** Headers above this are refused (the reference implementation uses the same limit). */
const MAX_HEADER_BYTES = 100_000_000;

/** The dtypes spinbath writes. */
export type WriteDtype = 'F32' | 'F16' | 'BF16';

/** One tensor's header entry in a safetensors file: dtype, shape and byte offsets. */
export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** Byte range [begin, end) within the data region. */
  begin: number;
  end: number;
}

/** An opened safetensors file: header entries, metadata, and a reader of one tensor at a time. */
export interface SafetensorsFile {
  path: string;
  /** File offset of the data region (8 + header length). */
  dataStart: number;
  metadata: Record<string, string>;
  /** Tensor name → entry, in header order. */
  entries: Map<string, SafetensorsEntry>;
  /** Reads one tensor and converts it to fp32. */
  read(name: string): HostTensor;
}

function malformed(path: string, what: string): UserError {
  return new UserError('E_CHECKPOINT', `${basename(path)} is not a valid safetensors file: ${what} (${path}); re-save or re-download it`);
}

function checkHost(): void {
  if (endianness() !== 'LE') throw new UserError('E_BACKEND', 'reading safetensors needs a little-endian machine');
}

/** Reads exactly `length` bytes at `position` into `buf[offset..]` (loops over short reads). */
function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, offset + done, Math.min(length - done, 0x40000000), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function openForRead(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String((e as Error).message);
    throw new UserError('E_FILE', `cannot read safetensors file ${path}: ${why}`);
  }
}

const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Validates one header entry; `dataSize` is the length of the data region. */
function parseEntry(path: string, name: string, raw: unknown, dataSize: number): SafetensorsEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw malformed(path, `header entry '${name}' is not an object`);
  }
  const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZE)) {
    throw malformed(path, `tensor '${name}' has unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(DTYPE_SIZE).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw malformed(path, `tensor '${name}' has shape ${JSON.stringify(shape)}, expected a list of non-negative integers`);
  }
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isNonNegInt) || offs[0] > offs[1]) {
    throw malformed(path, `tensor '${name}' has data_offsets ${JSON.stringify(offs)}, expected [begin, end] with 0 ≤ begin ≤ end`);
  }
  const [begin, end] = offs as [number, number];
  if (end > dataSize) {
    throw malformed(path, `tensor '${name}' has data_offsets [${begin}, ${end}] past the end of the data (${dataSize} bytes; the file is truncated?)`);
  }
  const numel = shape.reduce((a: number, b: number) => a * b, 1);
  const want = numel * DTYPE_SIZE[dtype];
  if (end - begin !== want) {
    throw malformed(path, `tensor '${name}' (${dtype} [${shape.join(', ')}]) needs ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { dtype, shape: shape as number[], begin, end };
}

/** Parses a JSON header (already decoded) into metadata + entries, checking every entry and overlaps. */
function parseHeader(path: string, text: string, dataSize: number): Pick<SafetensorsFile, 'metadata' | 'entries'> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw malformed(path, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw malformed(path, 'the header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw malformed(path, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw)) metadata[k] = String(v);
      continue;
    }
    entries.set(name, parseEntry(path, name, raw, dataSize));
  }
  const sorted = [...entries].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prev] = sorted[i - 1];
    const [name, cur] = sorted[i];
    if (cur.begin < prev.end) {
      throw malformed(path, `tensors '${prevName}' [${prev.begin}, ${prev.end}] and '${name}' [${cur.begin}, ${cur.end}] have overlapping data_offsets`);
    }
  }
  return { metadata, entries };
}

/** Converts the raw little-endian bytes of one tensor to fp32. `bytes` must start 8-byte aligned. */
function toFloat32(dtype: string, bytes: Uint8Array, numel: number): Float32Array {
  switch (dtype) {
    case 'F16':
      return f16ArrayToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, numel));
    case 'BF16':
      return bf16ArrayToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, numel));
    case 'F64':
      return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, numel));
    default:
      throw new Error(`unreachable dtype ${dtype}`);
  }
}

/**
 * Opens a safetensors file and validates its header. Tensor data is read lazily by `read(name)`
 * (one positioned read per tensor; the file is reopened for each read, so nothing stays open).
 */
export function readSafetensors(path: string): SafetensorsFile {
  checkHost();
  const fd = openForRead(path);
  let header: Pick<SafetensorsFile, 'metadata' | 'entries'>;
  let dataStart: number;
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw malformed(path, `the file has only ${size} bytes, fewer than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readFully(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(size - 8)) throw malformed(path, `the header length ${n} runs past the end of the file (${size} bytes; truncated?)`);
    if (n > BigInt(MAX_HEADER_BYTES)) throw malformed(path, `the header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
    const headerLen = Number(n);
    const headerBuf = Buffer.alloc(headerLen);
    readFully(fd, headerBuf, 0, headerLen, 8);
    dataStart = 8 + headerLen;
    header = parseHeader(path, headerBuf.toString('utf8'), size - dataStart);
  } finally {
    closeSync(fd);
  }
  const { metadata, entries } = header;
  const read = (name: string): HostTensor => {
    const e = entries.get(name);
    if (!e) throw new UserError('E_CHECKPOINT', `tensor '${name}' is not in ${basename(path)} (${path})`);
    if (!READABLE.has(e.dtype)) {
      throw new UserError(
        'E_CHECKPOINT',
        `tensor '${name}' in ${basename(path)} has dtype ${e.dtype}; only float tensors (F32, F16, BF16, F64) can be read — re-save the model in float32 or float16`,
      );
    }
    const numel = e.shape.reduce((a, b) => a * b, 1);
    const nbytes = e.end - e.begin;
    // fp32 bytes land directly in the result; other dtypes go through a fresh (aligned) buffer
    const data = e.dtype === 'F32' ? new Float32Array(numel) : null;
    const bytes = data ? new Uint8Array(data.buffer) : new Uint8Array(nbytes);
    const rfd = openForRead(path);
    let got: number;
    try {
      got = readFully(rfd, bytes, 0, nbytes, dataStart + e.begin);
    } finally {
      closeSync(rfd);
    }
    if (got !== nbytes) throw malformed(path, `tensor '${name}' could not be read completely (file changed or truncated)`);
    return { shape: [...e.shape], data: data ?? toFloat32(e.dtype, bytes, numel) };
  };
  return { path, dataStart, metadata, entries, read };
}

/** Reads every float tensor of a file into memory (convenience for small files and tests). */
export function loadSafetensors(path: string): Map<string, HostTensor> {
  const f = readSafetensors(path);
  const out = new Map<string, HostTensor>();
  for (const name of f.entries.keys()) out.set(name, f.read(name));
  return out;
}

export interface WriteSafetensorsOptions {
  dtype: WriteDtype;
  /** String key/value pairs stored under __metadata__ (transformers expects {format: 'pt'}). */
  metadata?: Record<string, string>;
}

/** Bytes that one tensor of `numel` elements takes in `dtype`. */
export function encodedSize(numel: number, dtype: WriteDtype): number {
  return numel * DTYPE_SIZE[dtype];
}

/** The raw little-endian bytes of `data` in `dtype` (fp32: a view, no copy). */
function encode(data: Float32Array, dtype: WriteDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const bits = dtype === 'F16' ? f32ArrayToF16(data) : f32ArrayToBf16(data);
  return new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
}

/**
 * Writes tensors (in map order) to `path` atomically. fp32 data is converted to `dtype` with
 * round-to-nearest-even. The header is space-padded to a multiple of 8 bytes.
 */
export function writeSafetensors(path: string, tensors: Map<string, HostTensor>, opts: WriteSafetensorsOptions): void {
  checkHost();
  if (!['F32', 'F16', 'BF16'].includes(opts.dtype)) {
    throw new UserError('E_ARG', `cannot write safetensors dtype '${opts.dtype}'; use F32, F16 or BF16`);
  }
  const header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = { ...opts.metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new UserError('E_INPUT', `'__metadata__' cannot be a tensor name (writing ${path})`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every(isNonNegInt) || numel !== t.data.length) {
      throw new UserError('E_INPUT', `tensor '${name}' has shape [${t.shape.join(', ')}] but ${t.data.length} values (writing ${path})`);
    }
    const size = encodedSize(numel, opts.dtype);
    header[name] = { dtype: opts.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBuf = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBuf.length));
  const parts: Uint8Array[] = [lenBuf, headerBuf];
  for (const t of tensors.values()) parts.push(encode(t.data, opts.dtype));
  atomicWrite(path, parts);
}
