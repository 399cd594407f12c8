import type { CharRnn } from '../../model/char-rnn.js';
import { inspectText } from '../../sample/inspect.js';
import { startBackend } from './backend.js';
import { pageStepper } from './fast-stepper.js';
import type { InspectReply, InspectRequest } from './inside-messages.js';
import { loadModel } from './session.js';

/**
 * Look inside's reader, in a worker so that the page stays responsive while it reads a long text:
 * the same models, on the same backend, as the page, loaded once on the first request.
 */
let models: Promise<CharRnn[]> | undefined;

const reply = (message: InspectReply, transfer: Transferable[] = []): void => postMessage(message, { transfer });

async function inspect(request: InspectRequest): Promise<void> {
  models ??= startBackend(request.backend).then(() => Promise.all(request.members.map((member) => loadModel(member, request.site))));
  const stepper = pageStepper(await models, request.backend);
  try {
    const inspection = inspectText(stepper, request.ids, { progress: (read) => reply({ kind: 'progress', read }) });
    const states = [...inspection.activations.flat(), ...(inspection.cells?.flat() ?? [])];
    const buffers = [inspection.logProbs.buffer, ...states.flatMap((values) => (values ? [values.buffer] : []))];
    reply({ kind: 'done', inspection }, buffers);
  } finally {
    stepper.dispose();
  }
}

addEventListener('message', (event: MessageEvent<InspectRequest>) => {
  inspect(event.data).catch((error: unknown) => reply({ kind: 'error', message: error instanceof Error ? error.message : String(error) }));
});
