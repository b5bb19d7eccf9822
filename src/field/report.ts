/**
 * The files of a head analysis (BL): heads.json, heads.csv, heads.md and the scatter SVGs of one
 * head (raw and LN-scaled), rendered in memory so a caller writes all of them or none.
 */
import { renderSvg } from '../plot/render.js';
import type { HeadAnalysis } from './heads.js';
import { scatterPlot } from './plots.js';

/** The five files of the main analysis as [name, text], the scatter plots of head `headIdx`. */
export async function analysisFiles(a: HeadAnalysis, headIdx: number): Promise<[string, string][]> {
  const h = a.heads[headIdx];
  const csv = ['layer,head,r,p,r_ln,p_ln', ...a.heads.map((x) => [x.layer, x.head, x.r, x.p, x.r_ln, x.p_ln].join(','))].join('\n') + '\n';
  const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(3));
  const md =
    [
      `| rank | head | r | r² | p | r (LN-scaled) |`,
      `|---:|---|---:|---:|---:|---:|`,
      ...a.heads.map(
        (x, i) =>
          `| ${i + 1} | L${x.layer}H${x.head} | ${fmt(x.r)} | ${fmt(x.r * x.r)} | ${Number.isNaN(x.p) ? 'n/a' : x.p.toExponential(2)} | ${fmt(x.r_ln)} |`,
      ),
    ].join('\n') + '\n';
  return [
    ['heads.json', JSON.stringify(a, null, 2) + '\n'],
    ['heads.csv', csv],
    ['heads.md', md],
    [`scatter-L${h.layer}H${h.head}.svg`, await renderSvg(scatterPlot(a, h))],
    [`scatter-L${h.layer}H${h.head}-ln.svg`, await renderSvg(scatterPlot(a, h, true))],
  ];
}
