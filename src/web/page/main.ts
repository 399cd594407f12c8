import { startBackend, requestedBackend } from './backend.js';
import { element } from './dom.js';
import { GenerateView } from './generate-view.js';
import { InsideView } from './inside-view.js';
import { showRun } from './run-view.js';
import { Session } from './session.js';
import type { SiteData } from './site-data.js';
import { SITE_FILES } from '../../run/files.js';

/** The page's entry point: loads the site's data and models, then wires up each view. */
async function start(): Promise<void> {
  const status = element('load-status');
  try {
    const backend = await startBackend(requestedBackend(location.search));
    element('backend').textContent = backend.description;
    document.body.dataset.backend = backend.name;
    const response = await fetch(SITE_FILES.data);
    if (!response.ok) throw new Error(`cannot load ${SITE_FILES.data} (HTTP ${response.status})`);
    const data = (await response.json()) as SiteData;
    document.title = data.title;
    element('title').textContent = data.title;
    element('version').textContent = data.generatedBy;
    showRun(data);
    const session = await Session.load(data, backend.name);
    new GenerateView(session);
    new InsideView(session);
    status.textContent = backend.fallback ?? '';
    document.body.dataset.ready = 'true';
  } catch (error) {
    status.textContent = `The page could not start: ${error instanceof Error ? error.message : String(error)}. Serve the folder over HTTP (rnn-web --serve), not as a file.`;
    document.body.dataset.ready = 'failed';
  }
}

void start();
