/**
 * Tensor backends. Default: tfjs-backend-wasm (SIMD); `cpu` as fallback; `tensorflow` through the
 * optional @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (imported on demand: their install
 * downloads libtensorflow, so they are never a hard dependency); `webgpu` through
 * @tensorflow/tfjs-backend-webgpu with the `webgpu` npm package (Dawn) when a GPU adapter exists.
 * Choose with --backend or SPINBATH_BACKEND.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { UserError } from './errors.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow', 'webgpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

let active: BackendName | null = null;

// Production mode: silences tfjs's console advice (e.g. the cpu backend's 'install tfjs-node' banner).
tf.env().set('PROD', true);

/** Import a package that may be absent, returning null when it is not installed. */
async function optionalImport(name: string): Promise<unknown | null> {
  try {
    return await import(name);
  } catch (e) {
    const msg = (e as Error).message ?? '';
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' || msg.includes('Cannot find')) return null;
    throw new UserError('E_BACKEND', `package ${name} is installed but failed to load: ${msg.split('\n')[0]}`);
  }
}

async function setupTensorflow(): Promise<void> {
  const gpu = await optionalImport('@tensorflow/tfjs-node-gpu');
  const mod = gpu ?? (await optionalImport('@tensorflow/tfjs-node'));
  if (!mod) {
    throw new UserError(
      'E_BACKEND',
      "backend 'tensorflow' needs @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu), which is not installed; " +
        'run `npm install @tensorflow/tfjs-node@4.22.0` on a machine that can download libtensorflow, or use --backend wasm',
    );
  }
}

async function setupWebgpu(): Promise<void> {
  const dawn = (await optionalImport('webgpu')) as { create?: (o: string[]) => unknown; globals?: object } | null;
  if (!dawn || !dawn.create) {
    throw new UserError('E_BACKEND', "backend 'webgpu' needs the npm package `webgpu` (Dawn); run `npm install webgpu` or use --backend wasm");
  }
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (dawn.globals) Object.assign(globalThis, dawn.globals);
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, writable: true, configurable: true });
  (g.navigator as { gpu?: unknown }).gpu = dawn.create([]);
  const gpu = g.navigator!.gpu as { requestAdapter(): Promise<unknown | null> };
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new UserError('E_BACKEND', "backend 'webgpu': no GPU adapter found on this machine; use --backend wasm");
  const be = await optionalImport('@tensorflow/tfjs-backend-webgpu');
  if (!be) throw new UserError('E_BACKEND', "backend 'webgpu' needs @tensorflow/tfjs-backend-webgpu; run `npm install @tensorflow/tfjs-backend-webgpu@4.22.0`");
}

/** Resolve the backend name from an explicit choice, then SPINBATH_BACKEND, then the default. */
export function resolveBackendName(explicit?: string): BackendName {
  const name = explicit ?? process.env.SPINBATH_BACKEND ?? 'wasm';
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new UserError('E_ARG', `unknown backend '${name}'; choose one of ${BACKENDS.join(', ')} (--backend or SPINBATH_BACKEND)`);
  }
  return name as BackendName;
}

/** Initialise and activate a backend. Idempotent for the same name. */
export async function useBackend(explicit?: string): Promise<BackendName> {
  const name = resolveBackendName(explicit);
  if (active === name && tf.getBackend() === name) return name;
  if (name === 'tensorflow') await setupTensorflow();
  if (name === 'webgpu') await setupWebgpu();
  const ok = await tf.setBackend(name);
  if (!ok) throw new UserError('E_BACKEND', `backend '${name}' failed to initialise; try --backend cpu`);
  await tf.ready();
  active = name;
  return name;
}

export interface BackendInfo {
  backend: string;
  simd: boolean | null;
  threads: boolean | null;
  versions: Record<string, string | null>;
}

/**
 * The installed version of package `name`, or null. Packages whose `exports` hide package.json
 * (@huggingface/transformers) are found from their resolved entry, walking up to their package.json.
 */
function packageVersion(require: NodeJS.Require, name: string): string | null {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    // fall through: exports may hide package.json
  }
  const paths = require.resolve.paths(name) ?? [];
  for (const base of paths) {
    try {
      const pkg = JSON.parse(readFileSync(join(base, name, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && pkg.version) return pkg.version;
    } catch {
      // not in this node_modules
    }
  }
  return null;
}

/** What `spinbath env` prints: backend, SIMD/threads and package versions. */
export async function backendInfo(): Promise<BackendInfo> {
  const backend = tf.getBackend();
  let simd: boolean | null = null;
  let threads: boolean | null = null;
  if (backend === 'wasm') {
    simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    // tfjs-wasm uses threads only where SharedArrayBuffer workers are set up; in Node it runs one thread.
    threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) && typeof (globalThis as { window?: unknown }).window !== 'undefined';
  }
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const versions: Record<string, string | null> = {};
  for (const p of [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-backend-webgpu',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu',
    'webgpu',
    '@huggingface/transformers',
  ]) {
    versions[p] = packageVersion(require, p);
  }
  versions.node = process.versions.node;
  return { backend, simd, threads, versions };
}
