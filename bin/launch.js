/** Starts a compiled command from dist/, or says how to build it when it is missing. */
export async function launch(command) {
  try {
    await import(`../dist/cli/${command}.js`);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('/dist/cli/')) throw error;
    process.stderr.write(`rnn-${command}: error: rnn-train is not built; run \`npm install\` (or \`npm run build\`) in its folder\n`);
    process.exitCode = 1;
  }
}
