/** What a training loop reports after each step, and the reporter it talks to (CLI progress bars implement it). */
export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  /** Latest validation loss (null before the first evaluation). */
  valLoss: number | null;
  /** Whether this step ran an evaluation. */
  evaluated: boolean;
  /** Estimated seconds to the end, from the measured time of recent steps (NaN at the first step of a process, which includes warm-up). */
  etaS: number;
}

export interface TrainProgress<I> {
  start(fromStep: number, steps: number): void;
  step(info: I): void;
  stop(): void;
}
