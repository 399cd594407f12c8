import type { TextInspection } from '../../sample/inspect.js';
import { COLD_START_CHARACTERS } from '../../data/batches.js';
import { describeUnknown, element, formatNumber } from './dom.js';
import type { InspectReply, InspectRequest } from './inside-messages.js';
import type { Session } from './session.js';
import { bestUnits, FEATURES, stateSources, type UnitRef, type UnitState } from './units.js';

/** The longest text the page reads at once: one step per character, in a worker (InsideReader), so the page stays responsive. */
export const MAX_INSPECTED = 20_000;
/** Units listed per feature. */
const LISTED = 5;
/** Surprise (bits) drawn at full colour. */
const FULL_SURPRISE_BITS = 8;

interface Inspected extends TextInspection {
  chars: string[];
  spans: HTMLSpanElement[];
}

/** Look inside's reader: a worker (inside-worker.ts), started on first use, that reads texts off the page's thread. */
class InsideReader {
  private worker: Worker | undefined;

  constructor(private readonly session: Session) {}

  read(ids: Int32Array, progress: (read: number) => void): Promise<TextInspection> {
    const worker = (this.worker ??= new Worker(new URL('./inside-worker.js', import.meta.url), { type: 'module' }));
    return new Promise((resolve, reject) => {
      worker.onmessage = ({ data }: MessageEvent<InspectReply>) => {
        if (data.kind === 'progress') progress(data.read);
        else if (data.kind === 'done') resolve(data.inspection);
        else reject(new Error(data.message));
      };
      worker.onerror = (event) => reject(new Error(event.message || 'the reader could not start'));
      const request: InspectRequest = { site: document.baseURI, members: this.session.data.members, backend: this.session.backend, ids };
      worker.postMessage(request);
    });
  }
}

/** Look inside: per-character surprise, one hidden unit's activation over the text, and units that track simple properties. */
export class InsideView {
  private inspected: Inspected | undefined;
  private readonly reader: InsideReader;

  constructor(private readonly session: Session) {
    this.reader = new InsideReader(session);
    const text = element<HTMLTextAreaElement>('inside-text');
    text.value = session.data.excerpt;
    element<HTMLButtonElement>('use-excerpt').disabled = session.data.excerpt === '';
    element('use-excerpt').addEventListener('click', () => (text.value = session.data.excerpt));
    element('use-generated').addEventListener('click', () => (text.value = session.generated));
    element('analyse').addEventListener('click', () => void this.analyse());
    const layer = element<HTMLSelectElement>('layer');
    session.models.forEach((model, m) => {
      for (let l = 0; l < model.config.layers; l++) {
        const name = session.models.length > 1 ? `member ${m + 1}, layer ${l + 1}` : `layer ${l + 1}`;
        const units = `${model.config.hiddenSize} units`;
        if (model.config.cell !== 'lstm') layer.append(new Option(`${name} (${units})`, `${m}:${l}:h`));
        else layer.append(new Option(`${name}, h: output (${units})`, `${m}:${l}:h`), new Option(`${name}, c: cell state (${units})`, `${m}:${l}:c`));
      }
    });
    for (const input of [layer, element('unit'), ...document.querySelectorAll<HTMLInputElement>('input[name=view]')]) {
      input.addEventListener('change', () => this.paint());
    }
  }

  async analyse(): Promise<void> {
    const status = element('inside-status');
    const { text, unknown } = this.session.known(element<HTMLTextAreaElement>('inside-text').value);
    const chars = [...text].slice(0, MAX_INSPECTED);
    const notes = [];
    if (unknown.size > 0) notes.push(`Left out characters the model does not know: ${describeUnknown(unknown)}.`);
    if ([...text].length > MAX_INSPECTED) notes.push(`Read the first ${MAX_INSPECTED.toLocaleString('en-US')} characters.`);
    if (chars.length < 2) {
      status.textContent = [...notes, 'Give at least two characters the model knows.'].join(' ');
      return;
    }
    const total = chars.length.toLocaleString('en-US');
    status.textContent = `Reading ${total} characters…`;
    const analyse = element<HTMLButtonElement>('analyse');
    analyse.disabled = true;
    try {
      const ids = this.session.vocabulary.encode(chars.join(''));
      const inspection = await this.reader.read(ids, (read) => (status.textContent = `Reading ${total} characters… ${read.toLocaleString('en-US')} read.`));
      this.inspected = { ...inspection, chars, spans: this.render(chars) };
    } catch (error) {
      status.textContent = `Could not read the text: ${error instanceof Error ? error.message : String(error)}`;
      return;
    } finally {
      analyse.disabled = false;
    }
    status.textContent = [...notes, describeCost(chars.length, this.inspected.logProbs)].join(' ');
    this.listUnits();
    this.paint();
  }

  private render(chars: string[]): HTMLSpanElement[] {
    const view = element('inside-view');
    view.textContent = '';
    return chars.map((ch) => {
      const span = document.createElement('span');
      span.textContent = ch === '\n' ? '↵\n' : ch;
      view.append(span);
      return span;
    });
  }

  private selected(): UnitRef {
    const [m, l, state] = element<HTMLSelectElement>('layer').value.split(':');
    const [member, layer] = [Number(m), Number(l)];
    const size = this.session.models[member].config.hiddenSize;
    const unitInput = element<HTMLInputElement>('unit');
    unitInput.max = String(size - 1);
    const unit = Math.min(size - 1, Math.max(0, Math.floor(Number(unitInput.value) || 0)));
    return { member, layer, state: state as UnitState, unit };
  }

  /** Colours every character by the chosen view: surprise in red, or the unit's activation in red (+) and blue (−). */
  private paint(): void {
    if (!this.inspected) return;
    const { spans, logProbs, activations, cells, chars } = this.inspected;
    const unitView = document.querySelector<HTMLInputElement>('input[name=view]:checked')?.value === 'unit';
    const { member, layer, state, unit } = this.selected();
    const size = this.session.models[member].config.hiddenSize;
    const h = activations[member][layer];
    const c = cells?.[member]?.[layer];
    spans.forEach((span, t) => {
      const activation = (state === 'c' ? c! : h)[t * size + unit];
      const logProb = t > 0 ? logProbs[t - 1] : undefined;
      span.dataset.activation = String(activation);
      span.dataset.logProb = logProb === undefined ? '' : String(logProb);
      const surprise = logProb === undefined ? undefined : `log p = ${formatNumber(logProb, 3)} nats (${formatNumber(-logProb / Math.LN2, 2)} bits)`;
      const units = [`h ${unit} = ${formatNumber(h[t * size + unit], 3)}`, c && `c ${unit} = ${formatNumber(c[t * size + unit], 3)}`];
      span.title = [JSON.stringify(chars[t]), surprise, ...units].filter(Boolean).join(' · ');
      // c is unbounded: it is coloured as tanh(c), what the output gate sees.
      span.style.background = unitView ? activationColour(state === 'c' ? Math.tanh(activation) : activation) : surpriseColour(logProb);
    });
    element('inside-view').dataset.view = unitView ? `unit ${member}:${layer}:${state}:${unit}` : 'surprise';
  }

  private listUnits(): void {
    const table = element<HTMLTableElement>('units');
    table.textContent = '';
    const { chars } = this.inspected!;
    const sources = stateSources(this.inspected!);
    for (const feature of FEATURES) {
      const row = table.insertRow();
      row.insertCell().textContent = feature.name;
      const cell = row.insertCell();
      const matches = bestUnits(sources, feature.values(chars), LISTED);
      if (matches.length === 0) cell.textContent = 'does not vary in this text';
      for (const match of matches) {
        const button = document.createElement('button');
        const where = this.session.models.length > 1 ? `member ${match.member + 1}, ` : '';
        const kind = match.state === 'c' ? ' cell' : '';
        button.textContent = `${where}layer ${match.layer + 1}${kind} unit ${match.unit} (r = ${formatNumber(match.r, 2)})`;
        button.addEventListener('click', () => this.show(match));
        cell.append(button, ' ');
      }
    }
  }

  private show({ member, layer, state, unit }: UnitRef): void {
    element<HTMLSelectElement>('layer').value = `${member}:${layer}:${state}`;
    element<HTMLInputElement>('unit').value = String(unit);
    document.querySelector<HTMLInputElement>('input[name=view][value=unit]')!.checked = true;
    this.paint();
  }
}

/** Colours from style.css's variables, so that the light and dark themes each have theirs. */
function surpriseColour(logProb: number | undefined): string {
  if (logProb === undefined) return 'transparent';
  return `rgba(var(--surprise), ${Math.min(1, -logProb / Math.LN2 / FULL_SURPRISE_BITS).toFixed(3)})`;
}

function activationColour(activation: number): string {
  const alpha = Math.min(1, Math.abs(activation)).toFixed(3);
  return activation >= 0 ? `rgba(var(--positive), ${alpha})` : `rgba(var(--negative), ${alpha})`;
}

/** The text's cost in bits/char, and apart the first characters, which the model reads from zero state. */
function describeCost(characters: number, logProbs: Float64Array): string {
  const bits = (values: ArrayLike<number>) => formatNumber(-Array.from(values).reduce((a, b) => a + b, 0) / values.length / Math.LN2, 3);
  const whole = `${characters} characters, ${bits(logProbs)} bits/char.`;
  if (logProbs.length <= COLD_START_CHARACTERS) return `${whole} All of them are read near the model's zero state, where it predicts worst.`;
  return `${whole} The first ${COLD_START_CHARACTERS}, read from the model's zero state: ${bits(logProbs.slice(0, COLD_START_CHARACTERS))}; the rest: ${bits(logProbs.slice(COLD_START_CHARACTERS))}.`;
}
