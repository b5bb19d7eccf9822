/**
 * `npm run bench` — performance benchmarks of spinbath on the current backend.
 *
 *   npm run bench [-- --backend wasm|cpu|tensorflow|webgpu] [--only NAME[,NAME]] [--out FILE]
 *
 * Runs the sections of bench/sections.ts in order, prints one table (and each target of the issue
 * with PASS/MISS) and writes bench/results.json atomically. With --only, the other sections already
 * in results.json are kept (each section records its own time, backend and load).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, useBackend } from '../src/backend.js';
import { atomicWriteJson } from '../src/io/atomic.js';
import { BenchContext, load1, type BenchRow, type BenchTarget, type Section, type SectionResult } from './common.js';
import { SECTIONS } from './sections.js';

interface Args {
  backend?: string;
  only: string[] | null;
  out: string;
  /** Internal: run as the child process of an isolated section, writing its entry to this file. */
  childOut?: string;
}

/** What results.json keeps per section. */
interface SectionEntry {
  at: string;
  backend: string;
  seconds: number;
  load1: { before: number; after: number };
  /** Whether it ran in its own child process. */
  isolated: boolean;
  rows: BenchRow[];
  targets: BenchTarget[];
  data: Record<string, unknown>;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));

function usage(): string {
  return [
    'usage: npm run bench -- [--backend wasm|cpu|tensorflow|webgpu] [--only NAME[,NAME...]] [--out FILE]',
    'sections:',
    ...SECTIONS.map((s) => `  ${s.name.padEnd(10)} ${s.description}`),
  ].join('\n');
}

function parseArgs(argv: string[]): Args {
  const args: Args = { only: null, out: join(HERE, 'results.json') };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] =
      argv[i].startsWith('--') && argv[i].includes('=')
        ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)]
        : [argv[i], undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value\n${usage()}`);
      return v;
    };
    if (flag === '--backend') args.backend = value();
    else if (flag === '--only') args.only = [...(args.only ?? []), ...value().split(',').filter(Boolean)];
    else if (flag === '--out') args.out = value();
    else if (flag === '--child-out') args.childOut = value();
    else if (flag === '--help' || flag === '-h') {
      console.log(usage());
      process.exit(0);
    } else throw new Error(`unknown argument '${argv[i]}'\n${usage()}`);
  }
  for (const n of args.only ?? []) {
    if (!SECTIONS.some((s) => s.name === n)) throw new Error(`unknown section '${n}'; sections: ${SECTIONS.map((s) => s.name).join(', ')}`);
  }
  return args;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function printTable(title: string, rows: BenchRow[]): void {
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  console.log(`\n${title}`);
  for (const r of rows) console.log(`  ${r.name.padEnd(w)}  ${fmt(r.value).padStart(9)} ${r.unit.padEnd(9)} ${r.note ?? ''}`.trimEnd());
}

function printTargets(targets: BenchTarget[]): void {
  if (targets.length === 0) return;
  const w = Math.max(...targets.map((t) => t.name.length));
  console.log('\nTargets');
  for (const t of targets) {
    const goal = `${t.kind === 'min' ? '≥' : '≤'} ${fmt(t.threshold)} ${t.unit}`;
    console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name.padEnd(w)}  ${fmt(t.value).padStart(9)} ${t.unit.padEnd(9)} (target ${goal})`);
  }
}

async function runHere(s: Section, ctx: BenchContext, backend: string): Promise<SectionEntry> {
  const loadBefore = load1();
  const t0 = performance.now();
  const r: SectionResult = await s.run(ctx);
  return {
    at: new Date().toISOString(),
    backend,
    seconds: (performance.now() - t0) / 1000,
    load1: { before: loadBefore, after: load1() },
    isolated: false,
    rows: r.rows,
    targets: r.targets ?? [],
    data: r.data ?? {},
  };
}

/** Run one section in a fresh process (same node flags, so the tsx loader too) and read its entry back. */
async function runIsolated(s: Section, backend: string): Promise<SectionEntry> {
  const dir = mkdtempSync(join(tmpdir(), 'spinbath-bench-'));
  const file = join(dir, 'entry.json');
  try {
    const script = fileURLToPath(import.meta.url);
    const child = spawn(process.execPath, [...process.execArgv, script, '--backend', backend, '--only', s.name, '--child-out', file], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', resolve);
    });
    if (code !== 0 || !existsSync(file)) throw new Error(`section ${s.name} failed in its child process (exit code ${code})`);
    return { ...(JSON.parse(readFileSync(file, 'utf8')) as SectionEntry), isolated: true };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await useBackend(args.backend);
  const ctx = new BenchContext(backend);
  const selected = SECTIONS.filter((s) => !args.only || args.only.includes(s.name));
  if (args.childOut) {
    try {
      atomicWriteJson(args.childOut, await runHere(selected[0], ctx, backend));
    } finally {
      ctx.dispose();
    }
    return;
  }
  const info = await backendInfo();
  console.log(
    `spinbath bench — backend ${backend}${info.simd !== null ? ` (SIMD ${info.simd}, threads ${info.threads})` : ''}, node ${process.versions.node}, ${cpus().length} CPUs, load ${load1().toFixed(2)}`,
  );
  const results: Record<string, SectionEntry> = {};
  const allTargets: BenchTarget[] = [];
  try {
    for (const s of selected) {
      const isolate = Boolean(s.isolate) && selected.length > 1;
      process.stderr.write(`[${s.name}] ${s.description}${isolate ? ' (own process)' : ''}\n`);
      const e = isolate ? await runIsolated(s, backend) : await runHere(s, ctx, backend);
      printTable(`${s.name} — ${s.description} (${e.seconds.toFixed(1)} s${isolate ? ', own process' : ''})`, e.rows);
      const busy = Math.max(e.load1.before, e.load1.after);
      if (busy > 0.75 * cpus().length) {
        console.log(`  ! load average ${busy.toFixed(2)} on ${cpus().length} CPUs during this section: other processes were running; timings may be low`);
      }
      allTargets.push(...e.targets);
      results[s.name] = e;
    }
  } finally {
    ctx.dispose();
  }
  printTargets(allTargets);
  let previous: { sections?: Record<string, unknown> } = {};
  if (args.only && existsSync(args.out)) {
    try {
      previous = JSON.parse(readFileSync(args.out, 'utf8')) as typeof previous;
    } catch {
      previous = {};
    }
  }
  atomicWriteJson(args.out, {
    generated: new Date().toISOString(),
    environment: { ...info, cpus: cpus().length, cpu_model: cpus()[0]?.model ?? null, tf_backend: tf.getBackend() },
    sections: { ...(previous.sections ?? {}), ...results },
  });
  console.log(`\nwrote ${args.out}`);
}

main().catch((e: unknown) => {
  console.error((e as Error).message ?? e);
  process.exit(1);
});
