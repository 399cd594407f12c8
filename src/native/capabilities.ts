import fs from 'node:fs';
import os from 'node:os';
import { UserError } from '../util/errors.js';
import { RECURRENCE_ISAS, tensorflowBackend, type LstmCapabilities, type RecurrenceIsa, type SgemmIsa } from './ops.js';

/**
 * What the machine and tfjs-node's addon can do, read from the binding, the environment and
 * /proc/cpuinfo: the facts that model/policy.ts decides from, as native/ops.ts's LstmCapabilities.
 * Node only: the model is given them (the page gives it NO_NATIVE_KERNELS). Nothing outside
 * native/ reads the binding's internals.
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
    nativeUpdate: Boolean(binding?.optimizerUpdate),
    isas,
    forcedIsa: forcedIsa(isas),
    threads: intraOpThreads(),
    cores: os.availableParallelism(),
    cpuBfloat16: cpuHasBfloat16(),
    sgemmIsa: binding ? sgemmIsa(isas) : 'other',
  };
}

/**
 * The ISA of oneDNN's sgemm: the CPU's widest, which the recurrence's paths show (their avx2 and
 * avx512 need the same features as oneDNN's), unless ONEDNN_MAX_CPU_ISA caps it (AVX2, AVX,
 * SSE41…); `other` when TF_ENABLE_ONEDNN_OPTS=0 leaves MatMul to Eigen.
 */
function sgemmIsa(isas: RecurrenceIsa[]): SgemmIsa {
  if (process.env.TF_ENABLE_ONEDNN_OPTS === '0') return 'other';
  const cap = (process.env.ONEDNN_MAX_CPU_ISA ?? '').toUpperCase();
  const allows = (isa: RegExp) => ['', 'ALL', 'DEFAULT'].includes(cap) || isa.test(cap);
  if (isas.includes('avx512') && allows(/^(AVX512|AVX10)/)) return 'avx512';
  if (isas.includes('avx2') && allows(/^(AVX2|AVX512|AVX10)/)) return 'avx2';
  return 'other';
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
