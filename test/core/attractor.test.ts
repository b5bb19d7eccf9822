/** Huo & Johnson's toy figures through the same code the CLI runs. */
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { parseToyConfig } from '../../src/toy/config.js';
import { PRESETS } from '../../src/toy/presets.js';
import { runAttractor, runPhase, runPositional } from '../../src/toy/run.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('Fig. 2: repetition as an attractor', () => {
  it('from ACB the iteration picks D six times and cos(D, N) increases monotonically', () => {
    const rep = runAttractor(parseToyConfig(PRESETS.fig2, 'fig2'), 6);
    expect(rep.steps[0].sequence).toEqual(['A', 'C', 'B']);
    expect(rep.steps.map((s) => s.next)).toEqual(['D', 'D', 'D', 'D', 'D', 'D']);
    const cos = rep.steps.map((s) => s.cosines.D);
    for (let i = 1; i < cos.length; i++) expect(cos[i]).toBeGreaterThan(cos[i - 1]);
    // D has the largest projection on N⁽⁰⁾ at every step (Eq. 6 with W_V = I).
    for (const s of rep.steps) expect(Math.max(...Object.values(s.scores))).toBe(s.scores.D);
  });
});

describe('Figs. 3–4: phase boundaries', () => {
  it('a bias along the End-Matter δ pushes EVIL further into the EVIL phase as ξ grows; first order tracks exact', () => {
    const rep = runPhase(parseToyConfig(PRESETS.fig4a, 'fig4a'));
    const d = rep.boundaries.map((b) => b.exact.badDistance);
    expect(d[1]).toBeGreaterThan(d[0]);
    expect(d[2]).toBeGreaterThan(d[1]);
    for (const b of rep.boundaries.slice(1))
      expect(Math.abs(b.firstOrder!.badDistance - b.exact.badDistance)).toBeLessThan(0.2 * Math.abs(b.exact.badDistance - d[0]) + 1e-4);
  });

  it('Fig. 4b: positional encoding keeps GOOD as the attractor until the boundary rotates past EVIL', () => {
    const rep = runPositional(parseToyConfig(PRESETS.fig4b, 'fig4b'));
    expect(rep.switchIteration).not.toBeNull();
    const sw = rep.switchIteration!;
    expect(rep.generated.slice(0, sw - 1).every((t) => t === 'GOOD')).toBe(true);
    expect(rep.generated.slice(sw - 1).every((t) => t === 'EVIL')).toBe(true);
    // Before the switch EVIL is on the good side of the boundary, at the switch it has crossed.
    expect(rep.boundaries[sw - 2].badDistance).toBeLessThan(0);
    expect(rep.boundaries[sw - 1].badDistance).toBeGreaterThan(0);
  });
});
