import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../util/errors.js';
import { setupCommand } from './installation.js';
import { NativeSetupError } from './native-setup.js';
import { checkForcedIsa } from './capabilities.js';
import { loadTfjsNode } from './tfjs-node.js';

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

export interface ActiveBackend {
  name: BackendName;
  /** Set when `auto` could not have native TensorFlow and fell back to something much slower. */
  warning?: string;
}

export interface BackendOptions {
  /** TensorFlow intra-op threads; read once, when TensorFlow loads. A user's TF_NUM_INTRAOP_THREADS wins. */
  intraOpThreads?: number;
}

async function activate(name: BackendName, options: BackendOptions): Promise<void> {
  // Production mode: TensorFlow.js's own notices (the cpu backend's "Hi, looks like you are
  // running TensorFlow.js in Node.js" banner, deprecation warnings) are not for rnn-train's users.
  tf.enableProdMode();
  if (name === 'tensorflow') {
    // TensorFlow's C++ logging would otherwise print several INFO lines on every start.
    process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
    if (options.intraOpThreads !== undefined) process.env.TF_NUM_INTRAOP_THREADS ??= String(options.intraOpThreads);
    await loadTfjsNode();
  } else if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
  } else {
    await import('@tensorflow/tfjs-backend-cpu');
  }
  if (!(await tf.setBackend(name)) || tf.getBackend() !== name) throw new Error(`backend ${name} did not initialise`);
}

function reason(error: unknown): string {
  if (error instanceof NativeSetupError) return error.reason;
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}

/** What to do about native TensorFlow being unavailable: the setup's own fix, else a rebuild. */
function fixFor(error: unknown): string {
  return error instanceof NativeSetupError ? error.fix : `rebuild it with \`${setupCommand({ force: true })}\``;
}

/**
 * Selects the compute backend. `auto` prefers native TensorFlow, then wasm, then plain JavaScript,
 * and says so when it had to fall back; an explicit choice that cannot be had is an error.
 */
export async function useBackend(choice: BackendChoice, options: BackendOptions = {}): Promise<ActiveBackend> {
  if (choice !== 'auto') {
    try {
      await activate(choice, options);
    } catch (error) {
      const hint = choice === 'tensorflow' ? `; ${fixFor(error)}, or use --backend wasm` : '';
      throw new UserError(`the ${choice} backend is not available (${reason(error)})${hint}`);
    }
    // A RNN_TRAIN_ISA this CPU cannot run is said now, in one line, rather than at the first chunk.
    if (choice === 'tensorflow') checkForcedIsa();
    return { name: choice };
  }
  let why = '';
  let fix = '';
  try {
    await activate('tensorflow', options);
  } catch (error) {
    why = reason(error);
    fix = fixFor(error);
  }
  if (!why) {
    checkForcedIsa();
    return { name: 'tensorflow' };
  }
  for (const fallback of ['wasm', 'cpu'] as const) {
    try {
      await activate(fallback, options);
      return {
        name: fallback,
        warning: `native TensorFlow is not available (${why}); using the ${fallback} backend, which is much slower. To fix: ${fix}.`,
      };
    } catch (error) {
      why = `${why}; ${fallback}: ${reason(error)}`;
    }
  }
  throw new UserError(`no compute backend could be loaded: ${why}`);
}
