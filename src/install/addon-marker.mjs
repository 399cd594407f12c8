// @ts-check
/**
 * The file that rnn-train's install (native-tensorflow.mjs) leaves beside a tfjs-node addon it
 * built from source with its fixes to the binding; the file lists the fixes, one name per line,
 * then a digest of them.
 */
export const ADDON_MARKER = 'rnn-train-fixes';

/** The fix that lets several threads run ops at once: rnn-train allows data-parallel replicas only with it. */
export const THREAD_SAFETY_FIX = 'per-thread-attr-names';
