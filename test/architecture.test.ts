/**
 * The architecture, checked: which top-level folder may import which (the layering of README
 * "Layout"), and that every equation reference names its paper (HJ = Huo & Johnson, BL =
 * Bhattacharjee & Lee).
 *
 *   src/ (the library core)      → src/ only; src/cli/ and src/index.ts (the entry points) also
 *                                   training/ and sampling/
 *   training/, sampling/         → src/ and themselves, never each other
 *   bench/                       → src/, training/, sampling/, bench/ (nothing else imports bench/)
 *   scripts/                     → src/, training/, sampling/, scripts/
 *   test/                        → anything but bench/
 * and no shipped code (src/, training/, sampling/) imports vitest.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = process.cwd();
const TOP = ['src', 'training', 'sampling', 'bench', 'scripts', 'test'] as const;
type Top = (typeof TOP)[number];

/** Every module specifier of a TypeScript source: static imports/exports (type-only too) and import('…'). */
function moduleSpecifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]/gms, // import … from 'x', export … from 'x'
    /^\s*import\s*['"]([^'"]+)['"]/gm, // import 'x' (side effects)
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // import('x'), also in type positions
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

function walk(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

const allowed: Record<Top, readonly Top[]> = {
  src: ['src'],
  training: ['src', 'training'],
  sampling: ['src', 'sampling'],
  bench: ['src', 'training', 'sampling', 'bench'],
  scripts: ['src', 'training', 'sampling', 'scripts'],
  test: ['src', 'training', 'sampling', 'scripts', 'test'],
};
/** The entry points of src/ that wire training/ and sampling/ in. */
const isEntry = (rel: string) => rel.startsWith(`src${sep}cli${sep}`) || rel === join('src', 'index.ts');

/** Every import edge that breaks the layering, as "file → target". */
function violations(): string[] {
  const bad: string[] = [];
  for (const top of TOP) {
    for (const file of walk(join(ROOT, top), ['.ts', '.js', '.mts'])) {
      const rel = relative(ROOT, file);
      for (const spec of moduleSpecifiers(readFileSync(file, 'utf8'))) {
        if (spec === 'vitest' && ['src', 'training', 'sampling'].includes(top)) bad.push(`${rel} → vitest`);
        if (!spec.startsWith('.')) continue;
        const target = relative(ROOT, normalize(join(dirname(file), spec)));
        const targetTop = target.split(sep)[0] as Top;
        const ok = allowed[top].includes(targetTop) || (top === 'src' && isEntry(rel) && (targetTop === 'training' || targetTop === 'sampling'));
        if (!ok) bad.push(`${rel} → ${target}`);
      }
    }
  }
  return bad;
}

describe('import boundaries', () => {
  it('the scanner sees every form of import', () => {
    // written with placeholders so that this file's own scan does not see them
    const src = [
      "IMPORT { a } FROM '../x/a.js';",
      "IMPORT type { B } FROM '../x/b.js';",
      'IMPORT {\n  c,\n  d,\n} FROM "../x/c.js";',
      "EXPORT { e } FROM './e.js';",
      "EXPORT * FROM './f.js';",
      "IMPORT './g.js';",
      "let h: IMPORT('../x/h.js').H;",
      "const i = await IMPORT('./i.js');",
      '// a comment: nothing FROM here',
    ]
      .join('\n')
      .replace(/IMPORT/g, 'import')
      .replace(/EXPORT/g, 'export')
      .replace(/FROM/g, 'from');
    expect(moduleSpecifiers(src).sort()).toEqual(['../x/a.js', '../x/b.js', '../x/c.js', './e.js', './f.js', './g.js', '../x/h.js', './i.js'].sort());
  });

  it('src/, training/ and sampling/ keep their layers; nothing but bench/ imports bench/; no shipped code imports test/', () => {
    expect(violations()).toEqual([]);
  });
});

describe('equation references', () => {
  it('every "Eq. N" in src/, training/ and sampling/ names its paper (HJ or BL)', () => {
    const bad: string[] = [];
    for (const top of ['src', 'training', 'sampling']) {
      for (const file of walk(join(ROOT, top), ['.ts', '.md'])) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (/(?<!\b(?:HJ|BL) )\bEqs?\.\s?\d/.test(line)) bad.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
          });
      }
    }
    expect(bad).toEqual([]);
  });
});
