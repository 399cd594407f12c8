import type { Corpus, Split } from '../data/corpus.js';
import { parameterCount } from '../model/char-rnn.js';
import type { ModelConfig } from '../model/config.js';
import { hasSmallSteps, precisionAdvice } from '../model/policy.js';
import type { ActiveBackend } from '../native/backend.js';
import { cpuHasBfloat16 } from '../native/capabilities.js';
import { nextSteps, sizeAdvice, undertrainedHint } from '../report/advice.js';
import { sparkline } from '../report/plot.js';
import { formatDuration, formatLoss, type Reporter } from '../report/progress.js';
import { RUN_FILES } from '../run/files.js';
import type { TrainingConfig } from '../train/config.js';
import type { TrainSummary } from '../train/events.js';
import { given, type TrainPlan, type TrainRequest } from './train-plan.js';
import type { Signals } from './train-signals.js';

/** What rnn-train says about a run: the header before its first step, and the summary after its last. */

/** Everything the header says about a run before its first step. */
export interface Header {
  request: TrainRequest;
  plan: TrainPlan;
  backend: ActiveBackend;
  corpus: Corpus;
  split: Split;
  model: Omit<ModelConfig, 'vocabSize'>;
  training: TrainingConfig;
  stepsPerEpoch: number;
}

export function headerLines({ request, plan, backend, corpus, split, model, training, stepsPerEpoch }: Header): string[] {
  const parameters = parameterCount({ ...model, vocabSize: corpus.vocabulary.size });
  const advice = [
    sizeAdvice(parameters, split.train.length),
    plan.resume
      ? undefined
      : precisionAdvice({
          precisionChosen: given(request, 'precision'),
          backend: backend.name,
          cell: model.cell,
          cpuBfloat16: cpuHasBfloat16(),
          smallSteps: hasSmallSteps(model, training.batchSize / training.replicas),
        }),
  ];
  return [
    `backend: ${backend.name}${backend.name === 'tensorflow' ? ' (native TensorFlow kernels)' : ''}`,
    `corpus: ${plan.corpusPath}, ${corpus.ids.length.toLocaleString('en-US')} characters, vocabulary ${corpus.vocabulary.size}; ` +
      `training ${split.train.length}, validation ${split.validation.length}`,
    `model: ${model.layers}×${model.hiddenSize} ${model.cell.toUpperCase()}, embedding ${model.embeddingSize}, ${parameters.toLocaleString('en-US')} parameters; ` +
      `${training.batchSize} streams × ${training.seqLen} characters per step, ${stepsPerEpoch} steps per epoch` +
      `${training.replicas > 1 ? ` on ${training.replicas} threads (data-parallel)` : ''}` +
      `${training.precision === 'bfloat16' ? ', mixed precision (bfloat16 matmuls)' : ''}; seed ${training.seed}`,
    ...advice.filter((line): line is string => line !== undefined),
    ...(plan.resume ? [`resuming ${plan.outDir} at step ${plan.resume.progress.step} (epoch ${plan.resume.progress.epoch})`] : []),
    `checkpoints: ${plan.outDir}/${RUN_FILES.latest} and ${plan.outDir}/${RUN_FILES.best}; log: ${plan.outDir}/${RUN_FILES.metrics}, plot: ${plan.outDir}/${RUN_FILES.lossPlot}`,
  ];
}

/** The closing lines, and the exit code. */
export function reportSummary(
  summary: TrainSummary,
  context: { reporter: Reporter; signals: Signals; outDir: string; member: boolean; validated: boolean; seconds: number; unigramEntropy: number },
): number {
  const { reporter, outDir, member } = context;
  const best =
    summary.bestValidationLoss !== null
      ? `best validation loss ${formatLoss(summary.bestValidationLoss)}`
      : context.validated
        ? 'not validated yet'
        : 'no validation split';
  const took = `${formatDuration(context.seconds)}, ${formatDuration(summary.trainingSeconds)} of training in all`;
  if (summary.interrupted) {
    const by = context.signals.received;
    reporter.info(`stopped by ${by?.name} after ${summary.steps} steps (${took}); ${best}${member ? '' : `; continue with: npx rnn-train --resume ${outDir}`}`);
    return by?.code ?? 130;
  }
  reporter.info(`done after ${summary.steps} steps (${took}); ${best}`);
  const losses = summary.history.validation.map(([, loss]) => loss);
  if (losses.length > 1) {
    reporter.info(
      `validation loss ${sparkline(losses)} ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)} nats/char over ${losses.length} evaluations`,
    );
  }
  const undertrained = undertrainedHint(summary.bestValidationLoss, context.unigramEntropy);
  if (undertrained) reporter.info(undertrained);
  if (!member) nextSteps(outDir).forEach((line) => reporter.info(line));
  return 0;
}
