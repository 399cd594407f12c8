import * as tf from '@tensorflow/tfjs-core';
import { disposeState, layerName, type CellWeights, type LayerPass, type LayerState } from '../../model/cells/cell.js';
import { gruForward } from '../../model/cells/gru.js';
import { lstmReferenceForward } from '../../model/cells/lstm.js';
import { rnnForward } from '../../model/cells/rnn.js';
import type { ModelConfig } from '../../model/config.js';
import { stepMembers } from '../../model/mixture.js';
import type { Stepper } from '../../sample/generate.js';
import { tidy } from '../../util/tidy.js';
import type { SiteMember } from './site-data.js';

/**
 * A checkpoint's model in the browser, on the TensorFlow.js CPU backend. The weights are read
 * from the checkpoint's own model.json and weights.bin; the recurrence is the library's own
 * (model/cells/), the written-out reference forward pass that Node runs where no native kernel
 * applies.
 */
export class PageModel {
  private constructor(
    readonly config: ModelConfig,
    private readonly weights: tf.NamedTensorMap,
  ) {}

  static async load(member: SiteMember): Promise<PageModel> {
    const response = await fetch(`${member.path}/model.json`);
    if (!response.ok) throw new Error(`cannot load ${member.path}/model.json (HTTP ${response.status})`);
    const { weightsManifest } = (await response.json()) as { weightsManifest: tf.io.WeightsManifestConfig };
    return new PageModel(member.card.model, await tf.io.loadWeights(weightsManifest, member.path));
  }

  zeroState(): LayerState[] {
    const { cell, hiddenSize, layers } = this.config;
    return Array.from({ length: layers }, () =>
      cell === 'lstm' ? { h: tf.zeros([1, hiddenSize]), c: tf.zeros([1, hiddenSize]) } : { h: tf.zeros([1, hiddenSize]) },
    );
  }

  private layer(l: number): CellWeights {
    const name = layerName(this.config.cell, l);
    return {
      kernel: this.weights[`${name}/kernel`] as tf.Tensor2D,
      recurrentKernel: this.weights[`${name}/recurrent_kernel`] as tf.Tensor2D,
      bias: this.weights[`${name}/bias`] as tf.Tensor1D,
    };
  }

  private runLayer(l: number, x: tf.Tensor2D, state: LayerState, seqLen: number): Pick<LayerPass, 'output' | 'state'> {
    const w = this.layer(l);
    if (this.config.cell === 'gru') return gruForward(w, x, state, seqLen, false);
    if (this.config.cell === 'rnn') return rnnForward(w, x, state, seqLen, false);
    return lstmReferenceForward(w, x, { h: state.h, c: state.c! }, seqLen, false);
  }

  /** Logits [ids, vocabulary] for one stream read from `state`; call inside tf.tidy. */
  forward(ids: Int32Array, state: LayerState[]): { logits: tf.Tensor2D; state: LayerState[] } {
    let x = tf.gather(this.weights['embedding/embeddings'], tf.tensor1d(ids, 'int32')) as tf.Tensor2D;
    const next: LayerState[] = [];
    for (let l = 0; l < this.config.layers; l++) {
      const pass = this.runLayer(l, x, state[l], ids.length);
      next.push(pass.state);
      x = pass.output;
    }
    return { logits: tf.add(tf.matMul(x, this.weights['dense/kernel']), this.weights['dense/bias']) as tf.Tensor2D, state: next };
  }
}

/** Page models (one, or an ensemble) as a Stepper, scoring as rnn-sample's does. */
export class PageStepper implements Stepper {
  private states: LayerState[][];

  constructor(private readonly models: PageModel[]) {
    this.states = models.map((model) => model.zeroState());
  }

  read(ids: Int32Array): void {
    const previous = this.states;
    this.states = tidy(() => this.models.map((model, k) => model.forward(ids, previous[k]).state));
    previous.forEach(disposeState);
  }

  step(id: number): Float32Array {
    const { scores, states } = stepMembers(this.states, (k, state) => this.models[k].forward(Int32Array.of(id), state));
    this.states = states;
    return scores;
  }

  hidden(): Float32Array[][] {
    return this.states.map((layers) => layers.map((layer) => layer.h.dataSync() as Float32Array));
  }

  dispose(): void {
    this.states.forEach(disposeState);
  }
}
