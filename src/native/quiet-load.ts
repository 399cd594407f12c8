import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The helper addon rnn-train's install builds beside tfjs-node's (src/install/quiet-load/). */
const QUIET_LOAD_ADDON = 'rnn_train_quiet_load.node';

interface QuietLoad {
  /** dlopen with standard error silenced while the library's static initialisers run; a reason on failure. */
  loadQuietly(file: string): string | undefined;
}

/** Where tfjs-node loads its addon from, as its own index.js finds it. */
function tfjsNodeAddon(): string {
  const find = (require('@mapbox/node-pre-gyp') as { find(packageJson: string): string }).find;
  return find(require.resolve('@tensorflow/tfjs-node/package.json'));
}

/**
 * Loads tfjs-node's addon, and libtensorflow with it, with standard error silenced for as long as
 * libtensorflow's static initialisers run: they log lines that no environment variable set from
 * Node can stop (absl's "All log messages before absl::InitializeLog()", oneDNN's "custom operations
 * are on"). tfjs-node's own load of the addon then finds it loaded. Without the helper (an addon
 * not built by rnn-train's install) this does nothing, and the lines appear as before.
 */
export function preloadTensorflowQuietly(): void {
  let addon: string;
  try {
    addon = tfjsNodeAddon();
  } catch {
    return;
  }
  const helper = path.join(path.dirname(addon), QUIET_LOAD_ADDON);
  if (!fs.existsSync(helper) || !fs.existsSync(addon)) return;
  // A failure is left for tfjs-node's own load to report, with its own message.
  (require(helper) as QuietLoad).loadQuietly(addon);
}
