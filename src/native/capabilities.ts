import fs from 'node:fs';
import { tensorflowBackend } from './ops.js';

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
  /** The binding's lstmForward, rnn-train's addition (src/install/lstm_recurrence.cc). */
  nativeForward: boolean;
  /** The binding's lstmBackward, likewise; absent from an addon built elsewhere. */
  nativeBackward: boolean;
}

export function lstmCapabilities(): LstmCapabilities {
  const binding = tensorflowBackend()?.binding;
  return { fusedOps: binding !== undefined, nativeForward: Boolean(binding?.lstmForward), nativeBackward: Boolean(binding?.lstmBackward) };
}
