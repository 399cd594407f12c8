import { UserError } from '../util/errors.js';
import { makeDirectory } from '../util/fs.js';
import type { TrainEvents } from '../train/events.js';

/** The part of tfjs-node's TensorBoard summary writer used here. */
interface SummaryWriter {
  scalar(name: string, value: number, step: number): void;
  flush(): void;
}

interface TfjsNode {
  node: { summaryFileWriter(logdir: string): SummaryWriter };
}

// A variable, so that TypeScript does not require the optional native package to be installed.
const TFJS_NODE = '@tensorflow/tfjs-node';

/**
 * TensorBoard scalars through tfjs-node's summary writer (native TensorFlow's event files):
 * train/loss, train/gradient_norm, train/learning_rate, train/chars_per_second every step and
 * validation/loss at every evaluation. Needs the tensorflow backend.
 */
export async function tensorboardEvents(logdir: string, backend: string): Promise<{ events: Partial<TrainEvents>; close: () => void }> {
  if (backend !== 'tensorflow') {
    throw new UserError(`--tensorboard writes through native TensorFlow, but the backend is ${backend}; run \`npm run setup-native\` or drop --tensorboard`);
  }
  // Made here rather than by TensorFlow, so that a path that cannot be a directory is refused in one line.
  makeDirectory(logdir, 'choose another --tensorboard directory');
  const { node } = (await import(TFJS_NODE)) as TfjsNode;
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
    },
    close: () => writer.flush(),
  };
}
