import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ADDON_MARKER, THREAD_SAFETY_FIX } from '../install/addon-marker.mjs';
import { tensorflowBackend } from './ops.js';

/**
 * What the machine and tfjs-node's addon can do: the facts that model/policy.ts decides from.
 * Nothing outside native/ reads the binding's internals.
 */

/**
 * Whether tfjs-node's addon may run ops from several threads at once. The published one keeps a
 * process-wide std::set that every op call writes to, and crashes (SIGSEGV) when two threads run
 * ops together; the one rnn-train's install builds from source makes it per-thread and says so in
 * the marker it leaves beside the addon (src/install/native-tensorflow.mjs).
 */
export function threadSafeTensorflow(): boolean {
  try {
    const lib = path.join(path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-node/package.json')), 'lib');
    return fs.readdirSync(lib).some((dir) => {
      const marker = path.join(lib, dir, ADDON_MARKER);
      return fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').split('\n').includes(THREAD_SAFETY_FIX);
    });
  } catch {
    return false;
  }
}

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
  /** The binding's lstmBackward, likewise; absent from an addon downloaded prebuilt. */
  nativeBackward: boolean;
}

export function lstmCapabilities(): LstmCapabilities {
  const binding = tensorflowBackend()?.binding;
  return { fusedOps: binding !== undefined, nativeForward: Boolean(binding?.lstmForward), nativeBackward: Boolean(binding?.lstmBackward) };
}
