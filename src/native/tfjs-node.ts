import { createRequire } from 'node:module';
import { ensureNativeTensorflow } from './native-setup.js';
import { preloadTensorflowQuietly } from './quiet-load.js';

/**
 * The tfjs-node package this process loaded from the cache (native-setup.ts), for the few places
 * that use it beyond the backend it registers: TensorBoard's summary writer, and tests that load a
 * model with its file:// handler.
 */

let loaded: unknown;

/** Sets native TensorFlow up if need be, then loads tfjs-node, which registers the `tensorflow` backend. */
export async function loadTfjsNode(): Promise<void> {
  if (loaded) return;
  const { view } = await ensureNativeTensorflow();
  preloadTensorflowQuietly(view.addon);
  loaded = createRequire(import.meta.url)(view.packageDir);
}

/** The loaded tfjs-node module; only after loadTfjsNode (the tensorflow backend is active). */
export function tfjsNode(): unknown {
  if (!loaded) throw new Error('tfjs-node is not loaded: the tensorflow backend is not active');
  return loaded;
}
