import os from 'node:os';
import type { BackendName } from '../native/backend.js';
import { cpuHasBfloat16, type LstmCapabilities } from '../native/capabilities.js';
import { setupCommand } from '../native/installation.js';
import { GATE_BLOCKS, type CellType, type MatmulPrecision } from './cells/cell.js';
import type { LstmKernels, ModelConfig } from './config.js';

/**
 * The performance policy, in one place: which LSTM code path runs, how many TensorFlow threads and
 * data-parallel replicas a run uses, and when bfloat16 products are refused or suggested. Every
 * rule is a pure function of the model's size and what native/capabilities.ts reports; the numbers
 * behind them are in docs/performance.md and bench/results/.
 */

type ModelShape = Omit<ModelConfig, 'vocabSize'>;

/**
 * Whether one time step's matmuls (2·B·(in+H)·G·H FLOPs) are at most 64 M: a step that small is
 * dominated by per-op costs, so it runs faster on a single TensorFlow thread, and on ops fused over
 * the whole chunk; large ones need the big GEMMs and both cores.
 */
export function isSmallStep(cell: CellType, batchSize: number, inputSize: number, hidden: number): boolean {
  return 2 * batchSize * (inputSize + hidden) * GATE_BLOCKS[cell] * hidden <= 64e6;
}

/** Whether even the widest layer's time steps are small (isSmallStep) at this batch size. */
export function hasSmallSteps(config: ModelShape, batchSize: number): boolean {
  return isSmallStep(config.cell, batchSize, Math.max(config.embeddingSize, config.hiddenSize), config.hiddenSize);
}

/**
 * TensorFlow intra-op threads for training (or sampling) this model at this batch size: 1 when its
 * steps are small (measured on 2 cores, interleaved: 2×128 batch 50 +30 %, 2×256 batch 32 +17 %),
 * else undefined, TensorFlow's default of one per core (2×512 batch 64: one thread is −25 %).
 */
export function preferredIntraOpThreads(config: ModelShape, batchSize: number): number | undefined {
  return hasSmallSteps(config, batchSize) ? 1 : undefined;
}

/**
 * Streams each replica keeps, and weights of the widest layer it may have, for a model whose
 * steps are not small to gain from replicas. Measured on 2 cores against one replica on both,
 * interleaved: 2×512 at batch 64 +5–8 %, at batch 32 even; 2×768 and 2×1024 at batch 32 −16 % and
 * −25 %. Fewer rows per matrix product, or weights that crowd the shared cache, favour one replica.
 */
const REPLICA_MIN_STREAMS = 32;
const REPLICA_MAX_WEIGHT_BYTES = 8 * 2 ** 20;

/**
 * Whether two replicas on one TensorFlow thread each train faster than one replica on every core:
 * always for small steps (one thread is all they can use), and for larger ones within the bounds
 * above. Measured on 2 cores: 2×128 at batch 50 +12 %, 2×256 at batch 48 +7 %.
 */
function replicasPay(config: ModelShape, batchSize: number): boolean {
  if (batchSize < 2 || os.availableParallelism() < 2) return false;
  const { hiddenSize: H, embeddingSize, cell } = config;
  const widestWeightBytes = 4 * (Math.max(embeddingSize, H) + H) * GATE_BLOCKS[cell] * H;
  return hasSmallSteps(config, batchSize) || (batchSize / 2 >= REPLICA_MIN_STREAMS && widestWeightBytes <= REPLICA_MAX_WEIGHT_BYTES);
}

/**
 * Replicas for a run by default: 2 where two replicas on one TensorFlow thread each beat one on
 * every core (replicasPay), else 1.
 */
export function preferredReplicas(backend: BackendName, config: ModelShape, batchSize: number): number {
  return backend === 'tensorflow' && replicasPay(config, batchSize) ? 2 : 1;
}

/**
 * TensorFlow intra-op threads for training: one per replica when the run has replicas (`replicas`
 * if set, else as preferredReplicas would choose on tensorflow), so that they do not fight over
 * the cores; else what the model wants alone.
 */
export function trainingIntraOpThreads(config: ModelShape, batchSize: number, replicas?: number): number | undefined {
  return (replicas ?? (replicasPay(config, batchSize) ? 2 : 1)) > 1 ? 1 : preferredIntraOpThreads(config, batchSize);
}

/**
 * The LSTM's code paths:
 * - `reference`: cells/lstm.ts, tfjs ops step by step on any backend: the readable mainline.
 * - `block`: TensorFlow's BlockLSTMV2 over the whole chunk; backward in the binding's lstmBackward.
 * - `recurrence`: the binding's lstmForward over the whole chunk, with bfloat16 products; backward
 *   in lstmBackward.
 * - `cell`: TensorFlow's LSTMBlockCell one step at a time, forward only, with weights rearranged
 *   once: sampling, where BlockLSTMV2's per-call setup would cost more than a step.
 */
export type LstmKernel = 'reference' | 'block' | 'recurrence' | 'cell';

export interface LstmKernelQuery {
  /** The user's choice: `reference` forces lstm.ts. */
  kernels: LstmKernels;
  capabilities: LstmCapabilities;
  /** Training needs a backward pass; scoring and sampling do not. */
  training: boolean;
  /** Single steps with weights prepared for them (sampling). */
  stepwise: boolean;
  precision: MatmulPrecision;
  /** Whether this layer's time steps are small (isSmallStep). */
  smallSteps: boolean;
}

/**
 * Which LSTM code path runs a layer. Training on the native paths needs lstmBackward, which an
 * addon not built by rnn-train's native setup lacks; then lstm.ts trains. lstmForward pays only in
 * bfloat16 with large steps: in alternating steps on one thread, 2×512 at 32 streams took 423
 * against BlockLSTMV2's 447 ms a step and 2×768 at 16 streams 510 against 544, while 2×512 at 16
 * streams, 2×256 at 24 and 2×128 at 25 were equal or slower; in float32 BlockLSTMV2 is as fast as
 * anything tried at every size from 2×128 to 2×1024.
 */
export function selectLstmKernel(query: LstmKernelQuery): LstmKernel {
  const { kernels, capabilities, training } = query;
  if (kernels === 'reference' || !capabilities.fusedOps) return 'reference';
  if (training && !capabilities.nativeBackward) return 'reference';
  if (query.stepwise) return 'cell';
  if (training && capabilities.nativeForward && query.precision === 'bfloat16' && !query.smallSteps) return 'recurrence';
  return 'block';
}

/** What a run's --precision means here: a refusal, a warning, or nothing to say. */
export interface PrecisionVerdict {
  error?: string;
  warning?: string;
}

/** Checks --precision bfloat16 against the cell, the backend and the addon. */
export function checkPrecision(run: { precision: MatmulPrecision; cell: CellType; backend: BackendName; capabilities: LstmCapabilities }): PrecisionVerdict {
  if (run.precision !== 'bfloat16') return {};
  const cellError = precisionCellError(run);
  if (cellError) return { error: cellError };
  if (run.backend !== 'tensorflow')
    return { error: `--precision bfloat16 needs the tensorflow backend (this run has ${run.backend}); use --precision float32` };
  if (!run.capabilities.nativeBackward) {
    return {
      error: `--precision bfloat16 needs the native LSTM recurrence that rnn-train builds into tfjs-node's addon, and this one lacks it; rebuild it with \`${setupCommand({ force: true })}\`, or use --precision float32`,
    };
  }
  if (cpuHasBfloat16() === false)
    return { warning: 'this CPU has no bfloat16 instructions (AVX512-BF16 or AMX), so --precision bfloat16 may well be no faster than float32 here' };
  return {};
}

/** The part of checkPrecision that needs no backend, to refuse before one loads: bfloat16 is for the LSTM's kernels only. */
export function precisionCellError(run: { precision: MatmulPrecision; cell: CellType }): string | undefined {
  if (run.precision === 'bfloat16' && run.cell !== 'lstm') {
    return `--precision bfloat16 applies to the LSTM's fused kernels, not to a ${run.cell.toUpperCase()}; use --precision float32`;
  }
  return undefined;
}

/**
 * Whether to suggest --precision bfloat16: where the user left the precision at float32 on a CPU
 * that multiplies bfloat16 natively, for an LSTM on TensorFlow whose time steps are large enough
 * for bfloat16 products to pay (medians of interleaved runs on a Zen 5: --preset small +19 %,
 * medium +31 %, large +23 %, 2×512 at batch 64 +24 %; at the defaults' size, whose steps are
 * small, no gain, so no hint there).
 */
export function precisionAdvice(run: {
  precisionChosen: boolean;
  backend: BackendName;
  cell: CellType;
  cpuBfloat16: boolean | undefined;
  smallSteps: boolean;
}): string | undefined {
  if (run.precisionChosen || run.backend !== 'tensorflow' || run.cell !== 'lstm' || run.cpuBfloat16 !== true || run.smallSteps) return undefined;
  return 'hint: this CPU multiplies bfloat16 natively; --precision bfloat16 (mixed precision) trains a model this size about 20–30 % faster and learns as well';
}
