import { Vocabulary } from '../../data/vocabulary.js';
import { PageModel, PageStepper } from './model.js';
import type { SiteData } from './site-data.js';

/** What the page's views share: the site's data, the loaded models, and the last generated text. */
export class Session {
  generated = '';

  private constructor(
    readonly data: SiteData,
    readonly models: PageModel[],
    readonly vocabulary: Vocabulary,
  ) {}

  static async load(data: SiteData): Promise<Session> {
    const models = await Promise.all(data.members.map((member) => PageModel.load(member)));
    return new Session(data, models, new Vocabulary(data.vocabulary));
  }

  /** A fresh reader from zero state; dispose it when done. */
  stepper(): PageStepper {
    return new PageStepper(this.models);
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
