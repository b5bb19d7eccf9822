/**
 * Toy spin-bath configs: a vocabulary of named spins, a prompt, the weight matrices, and the
 * perturbations of Figs. 2–4. Validated with zod, then checked for consistency (one dimension
 * throughout, square matrices, known tokens); every problem is one UserError line.
 */
import { z } from 'zod';
import { UserError } from '../errors.js';
import { zodToUserError } from '../config/zodError.js';

const finite = z.number({ invalid_type_error: 'expected a finite number' }).finite('expected a finite number');
const vector = z.array(finite).min(1, 'a vector needs at least one component');
const matrix = z.array(vector).min(1, 'a matrix needs at least one row');
const weight = z.union([z.literal('identity'), matrix]);

/** The zod schema of a toy-bath config; unknown fields are refused. */
export const toyConfigSchema = z
  .object({
    description: z.string().optional(),
    vocab: z.record(z.string().min(1), vector).refine((v) => Object.keys(v).length >= 2, 'the vocabulary needs at least two tokens'),
    prompt: z.array(z.string()).min(1, 'the prompt is empty; give at least one token'),
    WQ: weight.default('identity'),
    WK: weight.default('identity'),
    WV: weight.default('identity'),
    tau: finite.positive().default(1),
    temperature: finite.positive().default(1),
    causal: z.boolean().default(false),
    steps: z.number().int().min(1).max(100000).default(6),
    good: z.array(z.string()).optional(),
    bad: z.string().optional(),
    delta: matrix.optional(),
    xi: z.array(finite).optional(),
    positional: z
      .object({ y: finite.min(0).max(1), base: finite.positive().default(10000), start: z.number().int().min(0).default(0) })
      .strict()
      .optional(),
    slice: z
      .object({
        origin: vector,
        u: vector,
        v: vector,
        uRange: z.tuple([finite, finite]).default([0, 1]),
        vRange: z.tuple([finite, finite]).default([0, 1]),
        uLabel: z.string().default('u'),
        vLabel: z.string().default('v'),
      })
      .strict()
      .optional(),
    projectionToken: z.string().optional(),
  })
  .strict();

/** A toy-bath config as written in JSON (README "Your own toy bath"). */
export type ToyConfigInput = z.input<typeof toyConfigSchema>;
/** A validated toy-bath config with its dimension and token names. */
export type ToyConfig = z.output<typeof toyConfigSchema> & { dim: number; tokens: string[] };

function checkMatrix(name: string, m: number[][] | 'identity', d: number, where: string): void {
  if (m === 'identity') return;
  const cols = m[0].length;
  m.forEach((row, i) => {
    if (row.length !== cols)
      throw new UserError('E_INPUT', `${where}: ${name} row ${i} has ${row.length} entries but row 0 has ${cols}; every row needs the same length`);
  });
  if (m.length !== d || cols !== d) {
    throw new UserError('E_INPUT', `${where}: ${name} is ${m.length}×${cols} but the spins are ${d}-dimensional; give a square ${d}×${d} matrix or "identity"`);
  }
}

/** Validate a raw (parsed JSON or preset) toy config. `where` names the source for messages. */
export function parseToyConfig(raw: unknown, where: string): ToyConfig {
  const r = toyConfigSchema.safeParse(raw);
  if (!r.success) throw zodToUserError(r.error, where, 'E_INPUT');
  const c = r.data;
  const tokens = Object.keys(c.vocab);
  const d = c.vocab[tokens[0]].length;
  for (const t of tokens) {
    if (c.vocab[t].length !== d) {
      throw new UserError(
        'E_INPUT',
        `${where}: vocabulary has mixed dimensions: '${tokens[0]}' has ${d} components, '${t}' has ${c.vocab[t].length}; give every token the same dimension`,
      );
    }
  }
  const known = (t: string, field: string) => {
    if (!(t in c.vocab)) throw new UserError('E_INPUT', `${where}: ${field} token '${t}' is not in the vocabulary (${tokens.join(', ')})`);
  };
  c.prompt.forEach((t) => known(t, 'prompt'));
  c.good?.forEach((t) => known(t, 'good'));
  if (c.bad !== undefined) known(c.bad, 'bad');
  if (c.projectionToken !== undefined) known(c.projectionToken, 'projectionToken');
  checkMatrix('WQ', c.WQ, d, where);
  checkMatrix('WK', c.WK, d, where);
  checkMatrix('WV', c.WV, d, where);
  if (c.delta) checkMatrix('delta', c.delta, d, where);
  if (c.xi && !c.delta) throw new UserError('E_INPUT', `${where}: xi is given but delta is not; add a ${d}×${d} delta matrix`);
  if (c.slice) {
    for (const k of ['origin', 'u', 'v'] as const) {
      if (c.slice[k].length !== d)
        throw new UserError('E_INPUT', `${where}: slice.${k} has ${c.slice[k].length} components but the spins are ${d}-dimensional`);
    }
    if (!c.bad) throw new UserError('E_INPUT', `${where}: a slice needs a 'bad' token to move through it`);
  }
  return { ...c, dim: d, tokens };
}
