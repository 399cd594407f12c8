import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../native/backend.js';
import { streamSlice, type Batch } from '../data/batches.js';
import { carriedRows, carriedState, joinCarried, readCarried } from './carried.js';
import { type NamedArrays, type LstmKernels, type ModelConfig } from '../model/config.js';
import type { TrainingConfig } from './config.js';
import { chunkGradients, update, type Engine, type StepSettings } from './engine.js';
import { type CharRnn, type ModelState } from '../model/char-rnn.js';
import { disposeState, type MatmulPrecision } from '../model/cells/cell.js';
import type { Optimizer } from './optimizer.js';
import type { Rng } from '../util/random.js';
import { tidy } from '../util/tidy.js';

/**
 * What the main thread and a replica exchange every step, in memory both see (SharedArrayBuffers):
 * no message copies megabytes, and no new ArrayBuffer of that size is made every step (their
 * external memory set V8's full garbage collection off every few steps). Each side writes only
 * between a step's request and its reply: the main thread the weights before the request, the
 * replica its gradient before the reply.
 */
export interface Exchange {
  /** Every weight, laid out as CharRnn.readFlatWeights writes them; every replica reads the same. */
  weights: Float32Array;
  /** This replica's gradient, flattened as chunkGradients returns it. */
  gradient: Float32Array;
}

/** What a replica's worker thread is started with. */
export interface ReplicaSetup {
  config: ModelConfig;
  weights: NamedArrays;
  kernels?: LstmKernels;
  precision: MatmulPrecision;
  backend: BackendName;
  /** The number of streams it trains. */
  streams: number;
  exchange: Exchange;
}

export type ReplicaRequest =
  /** Train on the batch with the exchange's weights. */
  { kind: 'step'; batch: Batch; seed: number } | { kind: 'read-carried' } | { kind: 'restore-carried'; arrays: NamedArrays };

export type ReplicaReply =
  | { kind: 'ready' }
  /** The gradient is in the exchange. */
  | { kind: 'step'; loss: number }
  | { kind: 'carried'; arrays: NamedArrays }
  | { kind: 'error'; message: string };

/** A float32 array in shared memory. */
function sharedFloats(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

// The worker runs compiled JavaScript; tests that import these sources still find it in dist/.
const WORKER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'train', 'replica-worker.js');

/** A copy of the model in a worker thread, with its own TensorFlow context, training some of the streams. */
class Replica {
  private readonly waiting: { resolve: (reply: ReplicaReply) => void; reject: (error: Error) => void }[] = [];
  private failure?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: ReplicaReply) => {
      const next = this.waiting.shift();
      if (reply.kind === 'error') this.fail(new Error(`a data-parallel replica failed: ${reply.message}`), next);
      else next?.resolve(reply);
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`a data-parallel replica exited (code ${code})`)));
  }

  static async start(setup: ReplicaSetup): Promise<Replica> {
    const replica = new Replica(new Worker(WORKER_SCRIPT, { workerData: setup }));
    await replica.reply();
    return replica;
  }

  private fail(error: Error, first?: { reject: (error: Error) => void }): void {
    this.failure ??= error;
    first?.reject(error);
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }

  private reply(): Promise<ReplicaReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Sends a request; requests are handled in order, so one that has no reply needs no waiting. */
  send(request: ReplicaRequest): void {
    this.worker.postMessage(request);
  }

  async request<K extends ReplicaReply['kind']>(request: ReplicaRequest, kind: K): Promise<Extract<ReplicaReply, { kind: K }>> {
    const reply = this.reply();
    this.send(request);
    const answer = await reply;
    if (answer.kind !== kind) throw new Error(`a data-parallel replica answered ${answer.kind} to ${request.kind}`);
    return answer as Extract<ReplicaReply, { kind: K }>;
  }

  close(): Promise<number> {
    this.failure ??= new Error('closed');
    return this.worker.terminate();
  }
}

/**
 * Synchronous data parallelism over worker threads. The batch's streams are split into contiguous
 * groups: this thread trains the first, each replica one of the others, at the same time; their
 * mean losses and gradients are combined, weighted by their share of the streams (the mean over the
 * whole batch), and this thread alone clips and updates, then sends the new weights with the next
 * step. It pays where one thread's TensorFlow cannot use a second core: small layers, whose
 * matrix products are too small to split (see bench/bench.mjs). Each replica draws its dropout
 * masks from a seed taken from the run's generator, so a run is as repeatable as without replicas.
 */
export class ParallelEngine implements Engine {
  private state: ModelState;

  private constructor(
    private readonly model: CharRnn,
    private readonly optimizer: Optimizer,
    /** [from, to) of the streams of this thread, then of each replica. */
    private readonly groups: [number, number][],
    private readonly replicas: Replica[],
    /** The weights every replica reads (one buffer), and each replica's gradient. */
    private readonly exchange: { weights: Float32Array; gradients: Float32Array[] },
  ) {
    this.state = model.zeroState(groups[0][1] - groups[0][0]);
  }

  static async start(
    model: CharRnn,
    optimizer: Optimizer,
    { batchSize, replicas: threads, precision }: Pick<TrainingConfig, 'batchSize' | 'replicas' | 'precision'>,
    backend: BackendName,
    kernels?: LstmKernels,
  ): Promise<ParallelEngine> {
    const groups = Array.from({ length: threads }, (_, i): [number, number] => [
      Math.round((i * batchSize) / threads),
      Math.round(((i + 1) * batchSize) / threads),
    ]);
    const weights = await model.readWeights();
    const size = [...model.params.values()].reduce((sum, param) => sum + param.size, 0);
    const exchange = { weights: sharedFloats(size), gradients: groups.slice(1).map(() => sharedFloats(size)) };
    const replicas = await Promise.all(
      groups.slice(1).map(([from, to], i) =>
        Replica.start({
          config: model.config,
          weights,
          kernels,
          precision,
          backend,
          streams: to - from,
          exchange: { weights: exchange.weights, gradient: exchange.gradients[i] },
        }),
      ),
    );
    return new ParallelEngine(model, optimizer, groups, replicas, exchange);
  }

  async step(batch: Batch, dropoutRng: Rng, settings: StepSettings): Promise<{ loss: number; gradientNorm: number }> {
    await this.model.readFlatWeights(this.exchange.weights);
    const pending = this.replicas.map((replica, i) => {
      const [from, to] = this.groups[i + 1];
      return replica.request({ kind: 'step', batch: streamSlice(batch, from, to), seed: dropoutRng.int() }, 'step');
    });
    const [from, to] = this.groups[0];
    const own = chunkGradients(this.model, streamSlice(batch, from, to), this.state, dropoutRng);
    this.state = own.state;
    let replies: Extract<ReplicaReply, { kind: 'step' }>[];
    try {
      replies = await Promise.all(pending);
    } catch (error) {
      tf.dispose([own.loss, own.gradient]);
      throw error;
    }
    const share = (group: number): number => (this.groups[group][1] - this.groups[group][0]) / batch.batchSize;
    const lossAndNorm = tidy(() => {
      const loss = tf.addN([tf.mul(own.loss, share(0)), ...replies.map((reply, i) => tf.scalar(reply.loss * share(i + 1)))]) as tf.Scalar;
      // Read from the exchange within this step, before the next request lets the replica write it again.
      const theirs = replies.map((_, i) => ({ gradient: tf.tensor1d(this.exchange.gradients[i]), share: share(i + 1) }));
      return update(this.model, this.optimizer, loss, [{ gradient: own.gradient, share: share(0) }, ...theirs], settings);
    });
    tf.dispose([own.loss, own.gradient]);
    const [loss, gradientNorm] = await lossAndNorm.data();
    lossAndNorm.dispose();
    return { loss, gradientNorm };
  }

  resetCarried(): void {
    this.restoreCarried(new Map());
  }

  async readCarried(): Promise<NamedArrays> {
    const theirs = await Promise.all(this.replicas.map((replica) => replica.request({ kind: 'read-carried' }, 'carried')));
    return joinCarried([await readCarried(this.state, this.model.config), ...theirs.map((reply) => reply.arrays)]);
  }

  restoreCarried(arrays: NamedArrays): void {
    const hidden = this.model.config.hiddenSize;
    const [from, to] = this.groups[0];
    disposeState(this.state);
    this.state = carriedState(carriedRows(arrays, from, to, hidden), this.model.config, to - from);
    this.replicas.forEach((replica, i) => {
      const [start, end] = this.groups[i + 1];
      replica.send({ kind: 'restore-carried', arrays: carriedRows(arrays, start, end, hidden) });
    });
  }

  dispose(): void {
    disposeState(this.state);
    for (const replica of this.replicas) void replica.close();
  }
}
