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

/** The run: each member's loss curve and model card. */
export function showRun(data: SiteData): void {
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
