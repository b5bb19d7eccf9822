/**
 * `renderSvg` (src/plot/render.ts) imported on first use: vega and vega-lite cost ~45 MB of memory,
 * which commands that draw nothing (logits, generate, sample, …) should not pay at start-up.
 */
import type { VegaLiteSpec } from '../plot/render.js';

/** Render a Vega-Lite spec to an SVG string (see src/plot/render.ts). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  return (await import('../plot/render.js')).renderSvg(spec);
}
