/**
 * The context field N_proj that guides generation (BL Eqs. 9, 14), from a
 * configurable source at the last position:
 *   head   one head's N_proj = N₀ W_O^(h)                (blocks.l.attn.hook_result, from hook_z)
 *   heads  a set of heads, summed
 *   layer  one layer's whole attention output (all heads + c_proj bias: blocks.l.hook_attn_out)
 *   final  the final normalised residual ln_f(x) = γ ⊙ x̂ + β, whose dot product with e_t is the
 *          model's own logit for t (tied unembedding)
 * Default: `final`. Of the sources, only it carries the whole network's next-token preference
 * (N·e_t is exactly the logit), so the guidance η P_S N pulls a spin toward the tokens the language
 * model itself prefers; single heads carry partial, sometimes antagonistic fields (BL Sec. IV A).
 * The sweeps compare sources.
 *
 * `contextFields` (with an optional KV cache, so that appending a token costs one incremental
 * forward) gives the field at the last position; `contextFieldsAll` gives it at every position
 * of a window from one forward (causal attention: position p sees tokens 0..p only), which is how
 * training caches (context, next-token) fields without one forward per token.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { matmul } from '../core/linalg.js';
import type { LanguageModel, ModelCache } from '../model/engine.js';
import { disposeActivations } from '../model/hooks.js';

/** The zod schema of a {@link FieldSource}. */
export const fieldSourceSchema = z.union([
  z.object({ kind: z.literal('final') }).strict(),
  z.object({ kind: z.literal('layer'), layer: z.number().int().min(0) }).strict(),
  z.object({ kind: z.literal('head'), layer: z.number().int().min(0), head: z.number().int().min(0) }).strict(),
  z.object({ kind: z.literal('heads'), heads: z.array(z.object({ layer: z.number().int().min(0), head: z.number().int().min(0) }).strict()).min(1) }).strict(),
]);
/** Where the context field N_proj comes from: one head, a set of heads, a layer's attention output, or the final residual. */
export type FieldSource = z.infer<typeof fieldSourceSchema>;
/** The default context-field source: the final normalised residual. */
export const DEFAULT_FIELD_SOURCE: FieldSource = { kind: 'final' };

/** A stable text id of a source (for cache manifests and checkpoint compatibility checks). */
export function fieldSourceId(s: FieldSource): string {
  switch (s.kind) {
    case 'final':
      return 'final';
    case 'layer':
      return `layer:${s.layer}`;
    case 'head':
      return `head:${s.layer}.${s.head}`;
    case 'heads':
      return `heads:${s.heads.map((h) => `${h.layer}.${h.head}`).join('+')}`;
  }
}

/** Parse "final", "layer:2", "head:3.5" or "heads:3.5+0.1". */
export function parseFieldSource(text: string): FieldSource | null {
  const t = text.trim();
  if (t === 'final') return { kind: 'final' };
  let m = /^layer:(\d+)$/.exec(t);
  if (m) return { kind: 'layer', layer: Number(m[1]) };
  m = /^head:(\d+)\.(\d+)$/.exec(t);
  if (m) return { kind: 'head', layer: Number(m[1]), head: Number(m[2]) };
  m = /^heads:((\d+\.\d+)(\+\d+\.\d+)*)$/.exec(t);
  if (m) return { kind: 'heads', heads: m[1].split('+').map((p) => ({ layer: Number(p.split('.')[0]), head: Number(p.split('.')[1]) })) };
  return null;
}

/** Check a source against the model's shape; returns an error message or null. */
export function checkFieldSource(s: FieldSource, nLayer: number, nHead: number): string | null {
  const heads = s.kind === 'head' ? [s] : s.kind === 'heads' ? s.heads : [];
  if (s.kind === 'layer' && s.layer >= nLayer) return `layer ${s.layer} does not exist (the model has ${nLayer})`;
  for (const h of heads)
    if (h.layer >= nLayer || h.head >= nHead) return `head ${h.layer}.${h.head} does not exist (the model has ${nLayer} layers × ${nHead} heads)`;
  return null;
}

/** Hook names a source needs. */
function hookNamesFor(s: FieldSource): string[] {
  switch (s.kind) {
    case 'final':
      return [];
    case 'layer':
      return [`blocks.${s.layer}.hook_attn_out`];
    case 'head':
      return [`blocks.${s.layer}.attn.hook_z`];
    case 'heads':
      return [...new Set(s.heads.map((h) => `blocks.${h.layer}.attn.hook_z`))];
  }
}

/**
 * Run `ids` [batch][pos] (continuing `cache` when given) and return the field at the last position
 * of each row, [batch, d_model].
 */
export async function contextFields(model: LanguageModel, ids: number[][], source: FieldSource, cache?: ModelCache): Promise<tf.Tensor> {
  const B = ids.length;
  const d = model.dModel;
  // No unembedding: the field is read before the logits (output 'residual' stops after ln_final).
  if (source.kind === 'final') {
    const x = await model.forwardAsync(ids, { cache, lastOnly: true, output: 'residual' }); // [batch, 1, d_model]
    const rows = tf.reshape(x, [B, d]); // [batch, d_model]
    x.dispose();
    return rows;
  }
  const { logits, activations } = await model.runWithCacheAsync(ids, { names: hookNamesFor(source), cache, lastOnly: true, output: 'residual' });
  logits.dispose();
  try {
    const last = fieldsAt(model, activations, source, B, ids[0].length - 1, 1); // [batch, 1, d_model]
    const rows = tf.reshape(last, [B, d]); // [batch, d_model]
    last.dispose();
    return rows;
  } finally {
    disposeActivations(activations);
  }
}

/**
 * Combine the source's cached activations into fields at positions from..from+n: [batch, n, d_model].
 * The `final` source needs none: its field is the residual output.
 */
function fieldsAt(
  model: LanguageModel,
  activations: Map<string, tf.Tensor>,
  source: Exclude<FieldSource, { kind: 'final' }>,
  B: number,
  from: number,
  n: number,
): tf.Tensor {
  return tf.tidy(() => {
    const d = model.dModel;
    switch (source.kind) {
      case 'layer': {
        const out = activations.get(`blocks.${source.layer}.hook_attn_out`)!; // [batch, pos, d]
        return tf.slice(out, [0, from, 0], [B, n, d]); // [batch, n, d]
      }
      case 'head':
      case 'heads': {
        // result_h = z_h·W_O[h] (hook_result) for the chosen heads only, from hook_z (n_heads times smaller).
        const heads = source.kind === 'head' ? [source] : source.heads;
        const dh = model.dHead;
        let acc = tf.zeros([B * n, d]); // [batch·n, d]
        for (const h of heads) {
          const zAll = activations.get(`blocks.${h.layer}.attn.hook_z`)!; // [batch, pos, head, d_head]
          const zh = tf.reshape(tf.slice(zAll, [0, from, h.head, 0], [B, n, 1, dh]), [B * n, dh]); // [batch·n, d_head]
          const WO = model.params().get(`blocks.${h.layer}.attn.W_O`)!; // [head, d_head, d]
          acc = tf.add(acc, matmul(zh, tf.reshape(tf.slice(WO, [h.head, 0, 0], [1, dh, d]), [dh, d]))); // [batch·n, d]
        }
        return tf.reshape(acc, [B, n, d]); // [batch, n, d]
      }
    }
  });
}

/**
 * The field at EVERY position of `ids` [batch][pos] from one forward pass: [batch, pos, d_model];
 * row p equals `contextFields` of the prefix ids[..p] (causal attention), continuing `cache` when
 * given (so a long window can run in chunks whose intermediates fit in memory). The unembedding
 * does not run (the logits are not needed), so a window costs what its transformer blocks cost.
 */
export async function contextFieldsAll(model: LanguageModel, ids: number[][], source: FieldSource, cache?: ModelCache): Promise<tf.Tensor> {
  if (source.kind === 'final') return model.forwardAsync(ids, { cache, output: 'residual' }); // [batch, pos, d_model]
  const { logits, activations } = await model.runWithCacheAsync(ids, { names: hookNamesFor(source), cache, lastOnly: true, output: 'residual' });
  logits.dispose();
  try {
    return fieldsAt(model, activations, source, ids.length, 0, ids[0].length); // [batch, pos, d_model]
  } finally {
    disposeActivations(activations);
  }
}
