/**
 * Gradient registration. @tensorflow/tfjs-core's Node entry registers no gradient functions, and
 * its per-kernel gradient modules cannot be imported by Node directly (extensionless ESM in a
 * CommonJS package). The @tensorflow/tfjs union bundle registers all of them into tfjs's global
 * gradient registry, which every copy of tfjs-core shares; it is loaded once, on demand, by code
 * that differentiates (training), so analysis commands do not pay for it.
 */
import * as tf from '@tensorflow/tfjs-core';

let loading: Promise<void> | null = null;

export function ensureGradients(): Promise<void> {
  loading ??= (async () => {
    if (tf.getGradient('Neg') && tf.getGradient('BatchMatMul')) return;
    const backend = tf.getBackend();
    await import('@tensorflow/tfjs');
    // Importing the union package registers more backends; keep the one in use.
    if (backend && tf.getBackend() !== backend) await tf.setBackend(backend);
  })();
  return loading;
}
