#!/usr/bin/env node
import '../dist/cli/sample.js';
