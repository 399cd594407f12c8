import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName } from '../src/index.js';
import { testBackend } from './helpers.js';

// Runs before each test file is imported. An explicit backend never falls back: if native
// TensorFlow cannot load, every test file fails here instead of passing slowly on another backend.
const wanted: BackendName = testBackend();
await useBackend(wanted);
if (tf.getBackend() !== wanted) throw new Error(`tests wanted the ${wanted} backend but got ${tf.getBackend()}`);
