/**
 * SVG plots rendered in Node: a vega-lite spec is compiled to vega and rendered headless to SVG.
 * Plot builders elsewhere only assemble specs; this is the one place that renders.
 */
import type { TopLevelSpec } from 'vega-lite';

/** A Vega-Lite top-level spec. */
export type VegaLiteSpec = TopLevelSpec;

/** Render a vega-lite spec to an SVG string (vega and vega-lite load on the first call). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const vgSpec = compile(spec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
