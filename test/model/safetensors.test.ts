/**
 * safetensors reader/writer: round trips in F32/F16/BF16, exact fp16/bf16 bit patterns, and a
 * clear UserError for every kind of malformed file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { bf16ToF32, f16ToF32, f32BitsToBf16, f32ToF16 } from '../../src/model/halfFloat.js';
import { loadSafetensors, readSafetensors, writeSafetensors } from '../../src/model/safetensors.js';
import type { HostTensor } from '../../src/model/weights.js';
import { makeRng, normalArray } from '../../src/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'spinbath-st-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const file = (name = 'x') => join(tmp, `${name}-${n++}.safetensors`);

function sample(): Map<string, HostTensor> {
  const rng = makeRng('st');
  return new Map<string, HostTensor>([
    ['a.weight', { shape: [3, 5], data: normalArray(rng, 15) }],
    ['b', { shape: [7], data: normalArray(rng, 7, 100) }],
    ['scalar', { shape: [], data: new Float32Array([2.5]) }],
    ['empty', { shape: [0, 4], data: new Float32Array(0) }],
  ]);
}

/** A file with a hand-made header (object or raw string) and `dataBytes` bytes of data. */
function rawFile(header: unknown, dataBytes = 0, headerLenOverride?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLenOverride ?? BigInt(json.length));
  const p = file('raw');
  writeFileSync(p, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return p;
}

function expectUserError(fn: () => unknown, ...parts: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  for (const p of parts) expect(msg).toContain(p);
}

describe('fp16 / bf16 conversion', () => {
  it('produces the known fp16 bit patterns', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519)).toBe(0x7bff); // rounds down to max
    expect(f32ToF16(65520)).toBe(0x7c00); // ties-to-even overflows to inf
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f32ToF16(1023 * 2 ** -24)).toBe(0x03ff); // largest subnormal
    expect(f32ToF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie → even (zero)
    expect(f32ToF16(1.5 * 2 ** -24)).toBe(0x0002); // tie → even (2)
    expect(f32ToF16(0.75 * 2 ** -24)).toBe(0x0001);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16(1 / 3)).toBe(0x3555);
    expect(f32ToF16(-0)).toBe(0x8000);
    const nan = f32ToF16(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('round-trips every fp16 and bf16 value exactly', () => {
    const bad: number[] = [];
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 65536; h++) {
      const x = f16ToF32(h);
      if (Number.isNaN(x) ? !Number.isNaN(f16ToF32(f32ToF16(x))) : f32ToF16(x) !== h) bad.push(h);
      f[0] = bf16ToF32(h);
      if (Number.isNaN(f[0]) ? !Number.isNaN(bf16ToF32(f32BitsToBf16(u[0]))) : f32BitsToBf16(u[0]) !== h) bad.push(-h);
    }
    expect(bad).toEqual([]);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(bf16ToF32(0x3f80)).toBe(1);
  });

  it('rounds bf16 to nearest even', () => {
    const bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
    expect(f32BitsToBf16(bits(1))).toBe(0x3f80);
    expect(f32BitsToBf16(0x3f808000)).toBe(0x3f80); // tie, even stays
    expect(f32BitsToBf16(0x3f818000)).toBe(0x3f82); // tie, odd rounds up
    expect(f32BitsToBf16(0x3f808001)).toBe(0x3f81);
    expect(f32BitsToBf16(0x7f7fffff)).toBe(0x7f80); // max float overflows to inf
  });
});

describe('writeSafetensors / readSafetensors', () => {
  it('round-trips F32 exactly, with metadata and an 8-byte-aligned header', () => {
    const p = file();
    const t = sample();
    writeSafetensors(p, t, { dtype: 'F32', metadata: { format: 'pt' } });
    const raw = readFileSync(p);
    const headerLen = Number(raw.readBigUInt64LE(0));
    expect(headerLen % 8).toBe(0);
    const f = readSafetensors(p);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.dataStart).toBe(8 + headerLen);
    expect([...f.entries.keys()]).toEqual([...t.keys()]);
    const back = loadSafetensors(p);
    for (const [name, v] of t) {
      expect(back.get(name)!.shape).toEqual(v.shape);
      expect(Array.from(back.get(name)!.data)).toEqual(Array.from(v.data));
    }
  });

  it('round-trips F16 and BF16 within their precision and stores the right bits', () => {
    const t = sample();
    for (const [dtype, rel] of [
      ['F16', 2 ** -11],
      ['BF16', 2 ** -8],
    ] as const) {
      const p = file(dtype);
      writeSafetensors(p, t, { dtype });
      const back = loadSafetensors(p);
      for (const [name, v] of t) {
        const got = back.get(name)!.data;
        for (let i = 0; i < v.data.length; i++) expect(Math.abs(got[i] - v.data[i])).toBeLessThanOrEqual(Math.abs(v.data[i]) * rel + 1e-7);
      }
    }
    const p = file();
    writeSafetensors(p, new Map([['one', { shape: [2], data: new Float32Array([1, 65504]) }]]), { dtype: 'F16' });
    const f = readSafetensors(p);
    const raw = readFileSync(p);
    expect(raw.readUInt16LE(f.dataStart)).toBe(0x3c00);
    expect(raw.readUInt16LE(f.dataStart + 2)).toBe(0x7bff);
  });

  it('reads F64 tensors and refuses integer ones with a clear message', () => {
    const data = Buffer.alloc(8 + 8);
    data.writeDoubleLE(1.25, 0);
    data.writeBigInt64LE(7n, 8);
    const json = Buffer.from(JSON.stringify({ d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, i: { dtype: 'I64', shape: [1], data_offsets: [8, 16] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const p = file();
    writeFileSync(p, Buffer.concat([len, json, data]));
    const f = readSafetensors(p);
    expect(Array.from(f.read('d').data)).toEqual([1.25]);
    expectUserError(() => f.read('i'), "'i'", 'I64');
    expectUserError(() => f.read('nope'), "'nope'");
  });

  it('refuses a shape that does not match the data when writing', () => {
    expectUserError(() => writeSafetensors(file(), new Map([['w', { shape: [2, 2], data: new Float32Array(3) }]]), { dtype: 'F32' }), "'w'");
  });
});

describe('malformed safetensors files', () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('missing file', () => expectUserError(() => readSafetensors(join(tmp, 'absent.safetensors')), 'absent.safetensors', 'no such file'));

  it('truncated below 8 bytes', () => {
    const p = file('short');
    writeFileSync(p, Buffer.from([1, 2, 3]));
    expectUserError(() => readSafetensors(p), 'short', '3 bytes');
  });

  it('header length past the end', () => expectUserError(() => readSafetensors(rawFile(ok, 8, 10_000n)), 'raw', 'past the end'));

  it('header that is not JSON', () => expectUserError(() => readSafetensors(rawFile('{"w": {', 8)), 'raw', 'not valid JSON'));

  it('header that is not an object', () => expectUserError(() => readSafetensors(rawFile('[1, 2]', 8)), 'not a JSON object'));

  it('unknown dtype', () => {
    expectUserError(() => readSafetensors(rawFile({ w: { dtype: 'F99', shape: [2], data_offsets: [0, 8] } }, 8)), "'w'", 'F99');
  });

  it('bad shape', () => {
    expectUserError(() => readSafetensors(rawFile({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8)), "'w'", 'shape');
  });

  it('offsets past the end of the data (truncated file)', () => {
    expectUserError(() => readSafetensors(rawFile(ok, 4)), "'w'", 'past the end');
  });

  it('overlapping offsets', () => {
    const h = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expectUserError(() => readSafetensors(rawFile(h, 12)), "'a'", "'b'", 'overlapping');
  });

  it('shape and byte size disagree', () => {
    expectUserError(() => readSafetensors(rawFile({ w: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, 8)), "'w'", 'needs 6 bytes');
  });

  it('bad data_offsets', () => {
    expectUserError(() => readSafetensors(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8)), "'w'", 'data_offsets');
  });

  it('accepts __metadata__ and space padding', () => {
    const p = rawFile(JSON.stringify({ __metadata__: { format: 'pt' }, ...ok }) + '   ', 8);
    expect(readSafetensors(p).entries.size).toBe(1);
  });
});
