import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** The TensorFlow.js backends the page runs on: WebAssembly, or the CPU backend (plain JavaScript) where that cannot start. */
export const PAGE_BACKENDS = ['wasm', 'cpu'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

export interface StartedBackend {
  name: PageBackend;
  /** What the page says about it, e.g. in its footer. */
  description: string;
  /** Set when the page fell back to the CPU backend: why. */
  fallback?: string;
}

/** The backend the address asks for (`?backend=cpu` or `?backend=wasm`), else WebAssembly. */
export function requestedBackend(search: string): PageBackend {
  const asked = new URLSearchParams(search).get('backend');
  return asked === 'cpu' ? 'cpu' : 'wasm';
}

/**
 * WebAssembly with SIMD, on one thread: it runs the page's steps about 4× faster than the CPU
 * backend's JavaScript. Threads (which need cross-origin isolation) gained nothing at one
 * character a step: the default 2×256 model in headless Chromium on a Zen 5 generated 1,186
 * chars/s on 2 threads against 1,235 on one (bench/results/2026-12-04-epyc-zen5-avx2-forward.md).
 * The .wasm files are in the site's vendor/ folder, found relative to this script (js/web/page/),
 * so that the site works under any path, and in the Look inside worker as on the page.
 */
async function startWasm(): Promise<StartedBackend | undefined> {
  setWasmPaths(new URL('../../../vendor/', import.meta.url).href);
  setThreadsCount(1);
  if (!(await tf.setBackend('wasm').catch(() => false))) return undefined;
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return { name: 'wasm', description: `TensorFlow.js on WebAssembly (${simd ? 'SIMD' : 'no SIMD'})` };
}

/** Starts the requested backend, falling back to the CPU backend, and says which runs. */
export async function startBackend(requested: PageBackend): Promise<StartedBackend> {
  if (requested === 'wasm') {
    const wasm = await startWasm();
    if (wasm) return wasm;
  }
  await tf.setBackend('cpu');
  const description = "TensorFlow.js's CPU backend (JavaScript)";
  return requested === 'wasm'
    ? { name: 'cpu', description, fallback: 'WebAssembly could not start in this browser, so the page runs on the slower CPU backend.' }
    : { name: 'cpu', description };
}
