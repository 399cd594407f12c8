#!/usr/bin/env node
import '../dist/cli/train.js';
