import { generateText, type SampleOptions } from '../../sample/generate.js';
import { integerAtLeast, InvalidValue, numberInRange } from '../../util/parse.js';
import { shellWord } from '../../util/shell.js';
import { describeUnknown, element, formatNumber, pause } from './dom.js';
import type { Session } from './session.js';

/**
 * How long (ms) generation runs before it lets the page repaint and take a click on Stop. Each
 * repaint costs about a frame (16 ms): at 30 ms slices a third of the time went to them (the
 * default 2×256 model on WebAssembly, headless Chromium: 1,000–1,900 chars/s against about 5,000
 * stepping alone); 100 ms still answers Stop at once to a person.
 */
const SLICE_MS = 100;

/** A form field's value through one of the CLI's parsers, its message prefixed with the field's label. */
function field<T>(id: string, label: string, parse: (value: string) => T): T {
  try {
    return parse(element<HTMLInputElement>(id).value.trim());
  } catch (error) {
    throw new InvalidValue(`${label}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** As field(), but undefined when the field is blank. */
function optionalField<T>(id: string, label: string, parse: (value: string) => T): T | undefined {
  return element<HTMLInputElement>(id).value.trim() === '' ? undefined : field(id, label, parse);
}

/** Generate: the prime and the sampling rule in, streamed text out, as rnn-sample would write it. */
export class GenerateView {
  private stopping = false;

  constructor(private readonly session: Session) {
    element<HTMLFormElement>('generate-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.generate();
    });
    element('stop-button').addEventListener('click', () => (this.stopping = true));
    element('new-seed').addEventListener('click', () => (element<HTMLInputElement>('seed').value = String(Math.floor(Math.random() * 2 ** 31))));
  }

  private request(): SampleOptions {
    const stop = element<HTMLInputElement>('stop').value;
    return {
      prime: element<HTMLTextAreaElement>('prime').value,
      temperature: field('temperature', 'temperature', numberInRange(0, Infinity)),
      topK: optionalField('top-k', 'top-k', integerAtLeast(1)),
      topP: optionalField('top-p', 'top-p', numberInRange(0, 1, { minimumExclusive: true })),
      length: field('length', 'length', integerAtLeast(0)),
      seed: field('seed', 'seed', integerAtLeast(0)),
      stop: stop === '' ? undefined : stop,
    };
  }

  private command(options: SampleOptions): string {
    const flags = [`--seed ${options.seed}`, `-n ${options.length}`, `-t ${options.temperature}`];
    if (options.topK !== undefined) flags.push(`-k ${options.topK}`);
    if (options.topP !== undefined) flags.push(`--top-p ${options.topP}`);
    if (options.prime !== '') flags.push(`--prime ${shellWord(options.prime)}`);
    if (options.stop !== undefined) flags.push(`--stop ${shellWord(options.stop)}`);
    return `${this.session.data.sampleCommand} ${flags.join(' ')}`;
  }

  private setRunning(running: boolean): void {
    element<HTMLButtonElement>('generate-button').disabled = running;
    element<HTMLButtonElement>('stop-button').disabled = !running;
    element('output').dataset.state = running ? 'running' : 'done';
  }

  async generate(): Promise<void> {
    let options: SampleOptions;
    try {
      options = this.request();
    } catch (error) {
      return this.refuse(error instanceof Error ? error.message : String(error));
    }
    const unknown = this.session.known(options.prime).unknown;
    if (unknown.size > 0) return this.refuse(`The prime has characters the model does not know: ${describeUnknown(unknown)}. Remove them to generate.`);
    element('command').textContent = this.command(options);
    await this.stream(options);
  }

  private refuse(message: string): void {
    element('generate-status').textContent = message;
    element('output').dataset.state = 'refused';
  }

  private async stream(options: SampleOptions): Promise<void> {
    const output = element('output');
    const status = element('generate-status');
    output.textContent = '';
    this.stopping = false;
    this.setRunning(true);
    const stepper = this.session.stepper();
    let text = '';
    let logProb = 0;
    let count = 0;
    try {
      let slice = performance.now();
      // A slice's text goes into the page at once: one text node per character made each repaint lay them all out again.
      let pending = '';
      for (const piece of generateText(stepper, this.session.vocabulary, options)) {
        pending += piece.text;
        text += piece.text;
        if (piece.logProb !== undefined) {
          logProb += piece.logProb;
          count++;
        }
        if (performance.now() - slice > SLICE_MS) {
          output.append(pending);
          pending = '';
          status.textContent = `Generating… ${count} of ${options.length} characters`;
          await pause();
          if (this.stopping) break;
          slice = performance.now();
        }
      }
      output.append(pending);
      const mean = count > 0 ? `, mean log-probability ${formatNumber(logProb / count, 4)} nats/char` : '';
      status.textContent = `${this.stopping ? 'Stopped after' : 'Done:'} ${count} characters${mean}.`;
      output.dataset.meanLogProb = count > 0 ? String(logProb / count) : '';
      this.session.generated = text;
    } catch (error) {
      status.textContent = `Generation failed: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      stepper.dispose();
      this.setRunning(false);
    }
  }
}
