import fs from 'node:fs';
import os from 'node:os';
import { UserError } from '../util/errors.js';
import { RECURRENCE_ISAS, tensorflowBackend, type RecurrenceIsa } from './ops.js';

/**
 * What the machine and tfjs-node's addon can do: the facts that model/policy.ts decides from.
 * Nothing outside native/ reads the binding's internals.
 */

/**
 * Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX-BF16), as /proc/cpuinfo says;
 * undefined where there is no such file to ask.
 */
export function cpuHasBfloat16(): boolean | undefined {
  try {
    return /\b(avx512_bf16|amx_bf16)\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

/** What the active backend offers the LSTM (all false off the tensorflow backend). */
export interface LstmCapabilities {
  /** TensorFlow's fused LSTM ops (BlockLSTMV2, LSTMBlockCell): any tfjs-node addon. */
  fusedOps: boolean;
  /** The binding's lstmBackward, rnn-train's addition (src/install/recurrence/); absent from an addon built elsewhere. */
  nativeBackward: boolean;
  /** The binding's gruForward and gruBackward, likewise. */
  nativeGru: boolean;
  /** The binding's rnnForward and rnnBackward, likewise. */
  nativeRnn: boolean;
  /** The ISA paths of rnn-train's recurrence that this CPU can run, narrowest first; [] without it. */
  isas: RecurrenceIsa[];
  /** RNN_TRAIN_ISA, when the user set it: the path to run instead of the widest. */
  forcedIsa?: RecurrenceIsa;
}

/** The environment variable that forces a narrower ISA path, so that each can be tested and timed on one machine. */
export const ISA_ENV = 'RNN_TRAIN_ISA';

export function lstmCapabilities(): LstmCapabilities {
  const binding = tensorflowBackend()?.binding;
  const isas = binding?.recurrenceIsas?.() ?? [];
  return {
    fusedOps: binding !== undefined,
    nativeBackward: Boolean(binding?.lstmBackward),
    nativeGru: Boolean(binding?.gruForward && binding.gruBackward),
    nativeRnn: Boolean(binding?.rnnForward && binding.rnnBackward),
    isas,
    forcedIsa: forcedIsa(isas),
  };
}

/** RNN_TRAIN_ISA, checked against the paths at hand: a name this CPU cannot run is the user's error, said in one line. */
function forcedIsa(isas: RecurrenceIsa[]): RecurrenceIsa | undefined {
  const wanted = process.env[ISA_ENV];
  if (!wanted || isas.length === 0) return undefined;
  if (!(RECURRENCE_ISAS as readonly string[]).includes(wanted)) {
    throw new UserError(`${ISA_ENV}=${wanted} is not an instruction set rnn-train knows; use one of ${isas.join(', ')}, or unset it`);
  }
  if (!isas.includes(wanted as RecurrenceIsa)) throw new UserError(`${ISA_ENV}=${wanted}: this CPU cannot run it; use one of ${isas.join(', ')}, or unset it`);
  return wanted as RecurrenceIsa;
}

/** Throws the UserError lstmCapabilities would for RNN_TRAIN_ISA, once the tensorflow backend is active. */
export function checkForcedIsa(): void {
  lstmCapabilities();
}

/** The threads TensorFlow was started with (TF_NUM_INTRAOP_THREADS, as native/backend.ts sets it), else one per core. */
export function intraOpThreads(): number {
  const threads = Number(process.env.TF_NUM_INTRAOP_THREADS);
  return Number.isInteger(threads) && threads > 0 ? threads : os.availableParallelism();
}
