import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { QUIET_LOAD_ADDON } from './native-cache.js';

const require = createRequire(import.meta.url);

interface QuietLoad {
  /** dlopen with standard error silenced while the library's static initialisers run; a reason on failure. */
  loadQuietly(file: string): string | undefined;
}

/**
 * Loads tfjs-node's addon, and libtensorflow with it, with standard error silenced for as long as
 * libtensorflow's static initialisers run: they log lines that no environment variable set from
 * Node can stop (absl's "All log messages before absl::InitializeLog()", oneDNN's "custom operations
 * are on"). tfjs-node's own load of the addon then finds it loaded. Without the helper beside the
 * addon this does nothing, and the lines appear.
 */
export function preloadTensorflowQuietly(addon: string): void {
  const helper = path.join(path.dirname(addon), QUIET_LOAD_ADDON);
  if (!fs.existsSync(helper) || !fs.existsSync(addon)) return;
  // A failure is left for tfjs-node's own load to report, with its own message.
  (require(helper) as QuietLoad).loadQuietly(fs.realpathSync(addon));
}
