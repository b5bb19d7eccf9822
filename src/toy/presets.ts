/**
 * The toy spin baths of Huo & Johnson (2025) as data: Figs. 2, 3, 4a, 4b. Each preset is an
 * ordinary toy config (see config.ts), so a user's own JSON file goes through the same code.
 */
import type { ToyConfigInput } from './config.js';

/** End Matter: the bias direction δ of Fig. 4 (antisymmetric, so B = I + ξδ is orthogonal to first order). */
export const FIG4_DELTA = [
  [0, -2, 0.5],
  [2, 0, 1],
  [-0.5, -1, 0],
];

const GOOD_EVIL_VOCAB = {
  THEY: [0.25, 0.25, 0.1],
  ARE: [0.1, 0.3, 0.2],
  GOOD: [0.4, 0.3, 0.1],
  EVIL: [0.4, 0.15, 0.4],
};

/** The (y, z) slice at x = 0.4 in which Figs. 3–4 move the EVIL token ("x = 0.4 for simplicity"). */
const GOOD_EVIL_SLICE = {
  origin: [0.4, 0, 0],
  u: [0, 1, 0],
  v: [0, 0, 1],
  uRange: [0, 0.6] as [number, number],
  vRange: [0, 0.6] as [number, number],
  uLabel: 'y',
  vLabel: 'z',
};

/** The toy baths of HJ's figures by name (fig2, fig3, fig4a, fig4b). */
export const PRESETS: Record<string, ToyConfigInput> = {
  fig2: {
    description: 'Fig. 2: repetition as an attractor. 4-token vocabulary in R³, W_Q = W_K = W_V = I, prompt ACB.',
    vocab: { A: [0.1, 0.2, 0.3], B: [0.4, 0.1, 0.6], C: [0.7, 0.6, 0.5], D: [1.0, 1.1, 0.3] },
    prompt: ['A', 'C', 'B'],
    steps: 6,
    projectionToken: 'A',
  },
  fig3: {
    description: 'Fig. 3: the GOOD/EVIL phase boundary for the prompt THEY ARE, EVIL moved in the x = 0.4 plane.',
    vocab: GOOD_EVIL_VOCAB,
    prompt: ['THEY', 'ARE'],
    bad: 'EVIL',
    slice: GOOD_EVIL_SLICE,
    steps: 1,
  },
  fig4a: {
    description: 'Fig. 4a: the phase boundary rotated by a bias B = I + ξδ, ξ ∈ {0, 0.025, 0.05}, δ from the End Matter.',
    vocab: GOOD_EVIL_VOCAB,
    prompt: ['THEY', 'ARE'],
    bad: 'EVIL',
    slice: GOOD_EVIL_SLICE,
    delta: FIG4_DELTA,
    xi: [0, 0.025, 0.05],
    steps: 1,
  },
  fig4b: {
    description:
      'Fig. 4b: positional encoding y = 0.1 over 100 generated tokens, EVIL = (0.4, 0.15, 0.4); base 1000 as printed in the caption, positions from 0.',
    vocab: GOOD_EVIL_VOCAB,
    prompt: ['THEY', 'ARE'],
    bad: 'EVIL',
    slice: GOOD_EVIL_SLICE,
    positional: { y: 0.1, base: 1000, start: 0 },
    steps: 100,
  },
};

/** The names of {@link PRESETS}. */
export const PRESET_NAMES = Object.keys(PRESETS);
