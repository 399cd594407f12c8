// A data-parallel replica (data-parallel.ts): a copy of the model in a worker thread that computes
// the loss and gradients of its streams with the weights it is sent, and carries their state.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../native/backend.js';
import { lstmCapabilities } from '../native/capabilities.js';
import { copyInto } from '../native/ops.js';
import { carriedState, readCarried } from './carried.js';
import type { ReplicaReply, ReplicaRequest, ReplicaSetup } from './data-parallel.js';
import { chunkGradients } from './engine.js';
import { CharRnn } from '../model/char-rnn.js';
import { disposeState } from '../model/cells/cell.js';
import { Rng } from '../util/random.js';

const setup = workerData as ReplicaSetup;
const port = parentPort!;
await useBackend(setup.backend);
const model = new CharRnn(setup.config, setup.weights, { kernels: setup.kernels, precision: setup.precision, capabilities: lstmCapabilities() });
let state = model.zeroState(setup.streams);

async function handle(request: ReplicaRequest): Promise<ReplicaReply | undefined> {
  switch (request.kind) {
    case 'step': {
      // tfjs-node copies the weights into TensorFlow as this step's ops first read them: before
      // the reply that lets the main thread write the next step's.
      model.assignFlatWeights(setup.exchange.weights);
      const result = chunkGradients(model, request.batch, state, new Rng(request.seed));
      state = result.state;
      await copyInto([result.gradient], setup.exchange.gradient);
      const loss = (await result.loss.data())[0];
      tf.dispose([result.loss, result.gradient]);
      return { kind: 'step', loss };
    }
    case 'read-carried':
      return { kind: 'carried', arrays: await readCarried(state, model.config) };
    case 'restore-carried':
      disposeState(state);
      state = carriedState(request.arrays, model.config, setup.streams);
      return undefined;
  }
}

// One request at a time, in the order sent: the main thread relies on that order.
let queue = Promise.resolve();
port.on('message', (request: ReplicaRequest) => {
  queue = queue
    .then(() => handle(request))
    .then((reply) => reply && port.postMessage(reply))
    .catch((error: unknown) => port.postMessage({ kind: 'error', message: error instanceof Error ? error.message : String(error) } satisfies ReplicaReply));
});
port.postMessage({ kind: 'ready' } satisfies ReplicaReply);
