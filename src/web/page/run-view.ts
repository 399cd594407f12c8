import { parameterCount } from '../../model/char-rnn.js';
import { element, formatNumber } from './dom.js';
import type { ModelCard, SiteData } from './site-data.js';

/** Characters of the vocabulary shown on the card; a larger alphabet is cut short. */
const SHOWN_CHARACTERS = 200;

/** The vocabulary as one line, with the newline and the space made visible. */
function alphabet(vocabulary: string[]): string {
  const shown = vocabulary.slice(0, SHOWN_CHARACTERS).map((ch) => (ch === '\n' ? '↵' : ch === ' ' ? '␣' : ch));
  return shown.join('') + (vocabulary.length > SHOWN_CHARACTERS ? '…' : '');
}

function cardRows(card: ModelCard, vocabulary: string[]): [string, string][] {
  const { model, training } = card;
  const size = card.corpusBytes === null ? '' : ` (${formatNumber(card.corpusBytes / 1e6, 2)} MB)`;
  return [
    ['corpus', `${card.corpus}${size}`],
    ['corpus sha256', card.corpusSha256],
    ['vocabulary', `${model.vocabSize} characters: ${alphabet(vocabulary)}`],
    ['model', `${model.layers}-layer ${model.cell.toUpperCase()}, ${model.hiddenSize} units, embedding ${model.embeddingSize}, dropout ${model.dropout}`],
    [
      'training',
      `${training.optimizer}, learning rate ${training.learningRate}, batch ${training.batchSize} × ${training.seqLen} characters, seed ${training.seed}`,
    ],
    ['best validation loss', card.bestValidationLoss === null ? 'not measured' : `${formatNumber(card.bestValidationLoss, 4)} nats/char`],
    ['steps', `${card.step.toLocaleString('en-US')} (epoch ${card.epoch}, ${formatNumber(card.trainingSeconds / 60, 1)} minutes of training)`],
    ['saved', card.savedAt],
    ['checkpoint', card.checkpoint],
  ];
}

/** A parameter count as one reads it: 870 k, 3.31 M. */
function parameters(count: number): string {
  return count >= 1e6 ? `${formatNumber(count / 1e6, 2)} M` : `${formatNumber(count / 1e3, count >= 1e4 ? 0 : 1)} k`;
}

/** The figures one reads first: how good the model is, how big, and how long it trained. */
function summaryFigures(card: ModelCard): [string, string][] {
  const loss = card.bestValidationLoss;
  return [
    [loss === null ? '—' : `${formatNumber(loss / Math.LN2, 3)}`, 'bits/char on held-out text'],
    [parameters(parameterCount(card.model)), `parameters, ${card.model.layers} × ${card.model.hiddenSize} ${card.model.cell.toUpperCase()}`],
    [card.step.toLocaleString('en-US'), `steps, epoch ${card.epoch}`],
    [`${formatNumber(card.trainingSeconds / 60, 1)} min`, 'of training'],
  ];
}

/** The summary of the first member (or the only model), at the top of the run. */
function showSummary(card: ModelCard): void {
  const summary = element('summary');
  summary.className = 'summary';
  for (const [figure, caption] of summaryFigures(card)) {
    const box = document.createElement('div');
    const strong = document.createElement('strong');
    strong.textContent = figure;
    const span = document.createElement('span');
    span.textContent = caption;
    box.append(strong, span);
    summary.append(box);
  }
}

/** The run: its summary, and each member's loss curve and model card. */
export function showRun(data: SiteData): void {
  showSummary(data.members[0].card);
  const curves = element('curves');
  const cards = element('cards');
  data.members.forEach((member, m) => {
    const image = document.createElement('img');
    image.src = member.lossPlot;
    image.alt = `training and validation loss of ${member.card.checkpoint}`;
    curves.append(image);
    const table = document.createElement('table');
    if (data.members.length > 1) table.createCaption().textContent = `member ${m + 1}`;
    for (const [name, value] of cardRows(member.card, data.vocabulary)) {
      const row = table.insertRow();
      row.insertCell().textContent = name;
      row.insertCell().textContent = value;
    }
    cards.append(table);
  });
}
