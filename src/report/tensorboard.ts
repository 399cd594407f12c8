import * as tf from '@tensorflow/tfjs-core';
import { setupCommand } from '../native/installation.js';
import type { TensorflowBackend } from '../native/ops.js';
import { tfjsNode } from '../native/tfjs-node.js';
import { UserError } from '../util/errors.js';
import { makeDirectory } from '../util/fs.js';
import type { TrainEvents } from '../train/events.js';

/** The part of tfjs-node's TensorBoard summary writer used here; it has no text summaries of its own. */
interface SummaryWriter {
  scalar(name: string, value: number, step: number): void;
  flush(): void;
  /** The writer's TensorFlow resource, and the backend that holds it: what writeText needs. */
  resourceHandle: tf.Tensor;
  backend: TensorflowBackend;
}

/** SummaryMetadata {plugin_data {plugin_name: "text"}}, serialised: what makes TensorBoard show a string tensor as text. */
const TEXT_PLUGIN_METADATA = '\n\u0006\n\u0004text';

/**
 * A text summary (TensorBoard's Text tab): TensorFlow's WriteSummary op with a string tensor and
 * the text plugin's metadata, as tfjs-node writes its histograms.
 */
function writeText(writer: SummaryWriter, tag: string, text: string, step: number): void {
  const { backend, resourceHandle } = writer;
  const { binding } = backend;
  const stepId = binding.createTensor([], binding.TF_INT64, new Int32Array([step, 0]));
  tf.tidy(() => {
    const inputs = backend.getInputTensorIds([resourceHandle, tf.scalar(text, 'string'), tf.scalar(tag, 'string'), tf.scalar(TEXT_PLUGIN_METADATA, 'string')]);
    const [handle, textId, tagId, metadataId] = inputs;
    binding.executeOp('WriteSummary', [{ name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_STRING }], [handle, stepId, textId, tagId, metadataId], 0);
  });
  binding.deleteTensor(stepId);
}

interface TfjsNode {
  node: { summaryFileWriter(logdir: string): SummaryWriter };
}

/**
 * TensorBoard scalars through tfjs-node's summary writer (native TensorFlow's event files):
 * train/loss, train/gradient_norm, train/learning_rate, train/chars_per_second every step and
 * validation/loss at every evaluation. Needs the tensorflow backend.
 */
export async function tensorboardEvents(logdir: string, backend: string): Promise<{ events: Partial<TrainEvents>; close: () => void }> {
  if (backend !== 'tensorflow') {
    throw new UserError(
      `--tensorboard writes through native TensorFlow, but the backend is ${backend}; set native TensorFlow up with \`${setupCommand()}\`, or drop --tensorboard`,
    );
  }
  // Made here rather than by TensorFlow, so that a path that cannot be a directory is refused in one line.
  makeDirectory(logdir, 'choose another --tensorboard directory');
  const { node } = tfjsNode() as TfjsNode;
  const writer = node.summaryFileWriter(logdir);
  return {
    events: {
      step: (info) => {
        writer.scalar('train/loss', info.trainLoss, info.step);
        writer.scalar('train/gradient_norm', info.gradientNorm, info.step);
        writer.scalar('train/learning_rate', info.learningRate, info.step);
        writer.scalar('train/chars_per_second', info.charsPerSecond, info.step);
      },
      evaluation: (info) => {
        writer.scalar('validation/loss', info.validationLoss, info.step);
        writer.flush();
      },
      sample: (info) => writeText(writer, 'samples', info.text, info.step),
    },
    close: () => writer.flush(),
  };
}
