/**
 * Hooks → graph inputs. The ORT engine runs no JS inside the forward, so it accepts only hooks that
 * carry a declarative `intervention` (made by src/model/interventions.ts: zero / mean head ablation
 * on `hook_z`, head-result patching on `hook_result`, in TransformerLens layouts). Each becomes an
 * intervention slot of the graph (src/model/ort/graph.ts) plus its per-call input values.
 */
import type { Hook, Intervention } from '../hooks.js';
import type { InterventionSlot } from './graph.js';

/** A slot's input values by graph input name, with their dims. */
export type SlotFeeds = Map<string, { data: Float32Array; dims: number[] }>;

/** The hook site of an intervention. */
function siteOf(iv: Intervention): string {
  return `blocks.${iv.layer}.attn.${iv.kind === 'patch' ? 'hook_result' : 'hook_z'}`;
}

/** Whether the ORT engine can run `hook`: it carries an intervention and is registered on that intervention's exact site. */
export function expressible(hook: Hook): boolean {
  return hook.intervention !== undefined && typeof hook.name === 'string' && hook.name === siteOf(hook.intervention);
}

/** Model dimensions an intervention is checked against. */
export interface Dims {
  nLayer: number;
  nHead: number;
  dHead: number;
  dModel: number;
}

/**
 * Slots and input values for `hooks` (all expressible) on a call of `batch` rows × `pos` positions.
 * Hooks on layers the model does not have never fire (as in the tfjs engine) and are dropped.
 * Errors (head out of range, wrong mean size, bad patch shape or position) read as the tfjs ones.
 */
export function interventionInputs(hooks: readonly Hook[], m: Dims, batch: number, pos: number): { slots: InterventionSlot[]; feeds: SlotFeeds } {
  const slots: InterventionSlot[] = [];
  const feeds: SlotFeeds = new Map();
  const [H, dh, d] = [m.nHead, m.dHead, m.dModel];
  const checkHead = (layer: number, h: number) => {
    if (!Number.isInteger(h) || h < 0 || h >= H) throw new Error(`head ${h} of layer ${layer} is out of range [0, ${H})`);
  };
  for (const hook of hooks) {
    const iv = hook.intervention!;
    if (iv.layer < 0 || iv.layer >= m.nLayer) continue;
    const i = slots.length;
    if (iv.kind === 'zero' || iv.kind === 'mean') {
      // z_h ← value_h + own_h · mean_{batch,pos}(z_h) on the masked heads.
      const mask = new Float32Array(H); // [1, 1, h, 1]
      const value = new Float32Array(H * dh); // [1, 1, h, dh]
      const own = new Float32Array(H); // [1, 1, h, 1]
      iv.heads.forEach((h, j) => {
        checkHead(iv.layer, h);
        if (mask[h] === 1) return; // the first spec of a head wins (as in the tfjs hook)
        mask[h] = 1;
        const mean = iv.kind === 'mean' ? iv.means[j] : null;
        if (iv.kind === 'mean' && !mean) own[h] = 1;
        if (mean) {
          if (mean.length !== dh) throw new Error(`mean for layer ${iv.layer} head ${h} has ${mean.length} values, expected d_head = ${dh}`);
          value.set(mean, h * dh);
        }
      });
      slots.push({ site: siteOf(iv), kind: 'head' });
      feeds.set(`iv${i}.mask`, { data: mask, dims: [1, 1, H, 1] });
      feeds.set(`iv${i}.value`, { data: value, dims: [1, 1, H, dh] });
      feeds.set(`iv${i}.own`, { data: own, dims: [1, 1, H, 1] });
    } else {
      // result[:, q, head] ← value[:, j] for q = positions[j].
      checkHead(iv.layer, iv.head);
      const n = iv.positions.length;
      const vs = iv.valueShape;
      const perRow = vs.length === 3; // [batch, n, d]; else [n, d] (or [1, d], broadcast like tf.broadcastTo) for every row
      const ok = perRow ? vs[0] === batch && vs[1] === n && vs[2] === d : vs.length === 2 && (vs[0] === n || vs[0] === 1) && vs[1] === d;
      const rowStep = perRow || vs[0] === n ? 1 : 0; // value row j of position j, or row 0 for all
      if (!ok || iv.value.length !== iv.valueShape.reduce((a, b) => a * b, 1)) {
        throw new Error(`patch for layer ${iv.layer} head ${iv.head} has shape [${iv.valueShape}], expected [${batch}, ${n}, ${d}] or [${n}, ${d}]`);
      }
      const mask = new Float32Array(pos * H); // [1, p, h, 1]
      const value = new Float32Array(batch * pos * H * d); // [b, p, h, d]
      iv.positions.forEach((q, j) => {
        if (!Number.isInteger(q) || q < 0 || q >= pos) throw new Error(`patch position ${q} is outside this call's ${pos} positions`);
        mask[q * H + iv.head] = 1;
        for (let b = 0; b < batch; b++) {
          const src = ((perRow ? b * n : 0) + j * rowStep) * d;
          value.set(iv.value.subarray(src, src + d), ((b * pos + q) * H + iv.head) * d);
        }
      });
      slots.push({ site: siteOf(iv), kind: 'patch' });
      feeds.set(`iv${i}.mask`, { data: mask, dims: [1, pos, H, 1] });
      feeds.set(`iv${i}.value`, { data: value, dims: [batch, pos, H, d] });
    }
  }
  return { slots, feeds };
}
