/**
 * N-gram baselines for `spinbath lm eval`, counted on the TRAIN split with the model's tokenizer
 * and scored on exactly the tokens the language model scores:
 *
 *   unigram   p(w) = (c(w) + 1) / (N + V)                       add-one (Laplace) smoothing
 *
 *   bigram    interpolated Kneser–Ney (Chen & Goodman 1998), recursing down to a uniform base:
 *             p(w | v) = [max(c(v,w) − D2, 0) + D2 · N1+(v•) · p_cont(w)] / c(v•)    (c(v•) > 0)
 *             p(w | v) = p_cont(w)                                                 (v never a history)
 *             p_cont(w) = [max(N1+(•w) − D1, 0) + D1 · |{w': N1+(•w') > 0}| / V] / N1+(••)
 *
 * c(v,w) counts the bigrams of the train stream, c(v•) = Σ_w c(v,w), N1+(v•) the distinct
 * successors of v, N1+(•w) the distinct predecessors of w, N1+(••) the distinct bigram types.
 * The discounts come from count-of-counts, D = n1 / (n1 + 2·n2) (n_k: number of types seen k
 * times): D2 over bigram counts, D1 over continuation counts N1+(•w). Both distributions are
 * normalised over the whole vocabulary of V tokens.
 */
export interface TokenModel {
  /** Natural-log probability of `next` after `prev`. */
  logProb(prev: number, next: number): number;
}

/** Sum of −log p over the targets ids[from..], each conditioned on its predecessor. */
export interface NgramScore {
  tokens: number;
  nll: number;
  perplexity: number;
}

export function scoreNgram(model: TokenModel, ids: ArrayLike<number>, from = 1): NgramScore {
  let nll = 0;
  for (let i = Math.max(1, from); i < ids.length; i++) nll -= model.logProb(ids[i - 1], ids[i]);
  const tokens = Math.max(0, ids.length - Math.max(1, from));
  return { tokens, nll, perplexity: Math.exp(nll / tokens) };
}

function checkIds(ids: ArrayLike<number>, vocab: number): void {
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < vocab)) throw new Error(`n-gram: token id ${ids[i]} at ${i} is outside the vocabulary [0, ${vocab})`);
  }
}

export class UnigramModel implements TokenModel {
  private readonly logP: Float64Array;
  constructor(
    train: ArrayLike<number>,
    readonly vocab: number,
  ) {
    checkIds(train, vocab);
    const counts = new Float64Array(vocab);
    for (let i = 0; i < train.length; i++) counts[train[i]]++;
    const denom = train.length + vocab;
    this.logP = counts.map((c) => Math.log((c + 1) / denom));
  }
  logProb(_prev: number, next: number): number {
    return this.logP[next];
  }
}

/** D = n1 / (n1 + 2·n2) over a list of counts (0.5 when neither 1s nor 2s occur). */
export function discount(counts: Iterable<number>): number {
  let n1 = 0;
  let n2 = 0;
  for (const c of counts) {
    if (c === 1) n1++;
    else if (c === 2) n2++;
  }
  return n1 + n2 === 0 ? 0.5 : n1 / (n1 + 2 * n2);
}

export class KneserNeyBigram implements TokenModel {
  readonly d1: number;
  readonly d2: number;
  private readonly pair = new Map<number, number>(); // v·V + w → c(v,w)
  private readonly histCount: Float64Array; // c(v•)
  private readonly histTypes: Float64Array; // N1+(v•)
  private readonly pCont: Float64Array; // p_cont(w)

  constructor(
    train: ArrayLike<number>,
    readonly vocab: number,
  ) {
    checkIds(train, vocab);
    const V = vocab;
    for (let i = 1; i < train.length; i++) {
      const key = train[i - 1] * V + train[i];
      this.pair.set(key, (this.pair.get(key) ?? 0) + 1);
    }
    this.histCount = new Float64Array(V);
    this.histTypes = new Float64Array(V);
    const cont = new Float64Array(V); // N1+(•w)
    for (const [key, c] of this.pair) {
      const v = Math.floor(key / V);
      const w = key - v * V;
      this.histCount[v] += c;
      this.histTypes[v] += 1;
      cont[w] += 1;
    }
    const types = this.pair.size; // N1+(••)
    this.d2 = discount(this.pair.values());
    this.d1 = discount(cont.filter((c) => c > 0));
    const seen = cont.reduce((a, c) => a + (c > 0 ? 1 : 0), 0);
    this.pCont = types === 0 ? new Float64Array(V).fill(1 / V) : cont.map((c) => (Math.max(c - this.d1, 0) + (this.d1 * seen) / V) / types);
  }

  prob(prev: number, next: number): number {
    const h = this.histCount[prev];
    if (h === 0) return this.pCont[next];
    const c = this.pair.get(prev * this.vocab + next) ?? 0;
    return (Math.max(c - this.d2, 0) + this.d2 * this.histTypes[prev] * this.pCont[next]) / h;
  }

  logProb(prev: number, next: number): number {
    return Math.log(this.prob(prev, next));
  }
}
