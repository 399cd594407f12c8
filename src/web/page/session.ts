import * as tf from '@tensorflow/tfjs-core';
import { Vocabulary } from '../../data/vocabulary.js';
import { CharRnn } from '../../model/char-rnn.js';
import { NO_NATIVE_KERNELS } from '../../native/ops.js';
import type { Stepper } from '../../sample/generate.js';
import type { PageBackend } from './backend.js';
import { pageStepper } from './fast-stepper.js';
import type { SiteData, SiteMember } from './site-data.js';

/**
 * A member's model, as rnn-sample loads it: CharRnn on the checkpoint's weights (the member's
 * model.json and weights.bin, under `site`, the page's address), with no native kernel, so the
 * written-out cells run on TensorFlow.js.
 */
export async function loadModel(member: SiteMember, site: string): Promise<CharRnn> {
  const folder = new URL(member.path, site).href;
  const response = await fetch(`${folder}/model.json`);
  if (!response.ok) throw new Error(`cannot load ${member.path}/model.json (HTTP ${response.status})`);
  const { weightsManifest } = (await response.json()) as { weightsManifest: tf.io.WeightsManifestConfig };
  const tensors = await tf.io.loadWeights(weightsManifest, folder);
  const weights = new Map(Object.entries(tensors).map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]));
  tf.dispose(Object.values(tensors));
  return new CharRnn(member.card.model, weights, { capabilities: NO_NATIVE_KERNELS });
}

/** What the page's views share: the site's data, the loaded models, and the last generated text. */
export class Session {
  generated = '';

  private constructor(
    readonly data: SiteData,
    readonly models: CharRnn[],
    readonly vocabulary: Vocabulary,
    readonly backend: PageBackend,
  ) {}

  static async load(data: SiteData, backend: PageBackend): Promise<Session> {
    const models = await Promise.all(data.members.map((member) => loadModel(member, document.baseURI)));
    return new Session(data, models, new Vocabulary(data.vocabulary), backend);
  }

  /** A fresh reader from zero state (pageStepper's choice); dispose it when done. */
  stepper(): Stepper & { dispose(): void } {
    return pageStepper(this.models, this.backend);
  }

  /** The text's characters the model knows, and how often each unknown one occurs. */
  known(text: string): { text: string; unknown: Map<string, number> } {
    const unknown = new Map<string, number>();
    let kept = '';
    for (const ch of text) {
      if (this.vocabulary.has(ch)) kept += ch;
      else unknown.set(ch, (unknown.get(ch) ?? 0) + 1);
    }
    return { text: kept, unknown };
  }
}
