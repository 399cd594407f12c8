#!/usr/bin/env node
// Regenerates the small synthetic corpora in this folder from src/synthetic.ts (build first:
// `npm run build`). They are deterministic: the same seed gives the same file.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nestedBrackets } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const target = path.join(here, 'nested-brackets.txt');
fs.writeFileSync(target, nestedBrackets(60_000, 1));
console.log(`wrote ${target}`);
