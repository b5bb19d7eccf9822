/**
 * The bench sections, in the order `npm run bench` runs them. A section is a function in its own
 * file (see bench/common.ts `Section`); add one by importing it here and appending it to the list.
 */
import type { Section } from './common.js';
import { enginesSection } from './engines.js';
import { forwardSection } from './forward.js';
import { gpuSection } from './gpu.js';
import { headsSection } from './heads.js';
import { lmSection } from './lm.js';
import { matmulSection } from './matmul.js';
import { ortMemSection } from './ortmem.js';
import { sampleSection } from './sample.js';
import { scoreSection } from './score.js';

export const SECTIONS: Section[] = [
  matmulSection,
  forwardSection,
  enginesSection,
  ortMemSection,
  headsSection,
  lmSection,
  scoreSection,
  sampleSection,
  gpuSection,
];
