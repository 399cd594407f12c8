import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
if (isMainThread) {
  const mode = process.argv[2];
  const tf = await import('@tensorflow/tfjs-node');
  tf.matMul(tf.ones([2,2]), tf.ones([2,2])).dataSync();
  const w = new Worker(new URL(import.meta.url), { workerData: mode });
  await new Promise((r) => w.once('message', r));
  if (mode === 'terminate') await w.terminate();
  else if (mode === 'close') { w.postMessage('close'); await new Promise((r) => w.once('exit', r)); }
  else if (mode === 'exit') process.exit(0);
  console.error('main end', mode);
} else {
  const tf = await import('@tensorflow/tfjs-node');
  const a = tf.matMul(tf.ones([64,64]), tf.ones([64,64]));
  a.dataSync();
  parentPort.postMessage('ready');
  parentPort.on('message', () => { a.dispose(); parentPort.close(); });
}
