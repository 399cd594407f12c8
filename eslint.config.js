// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first (docs/architecture.md): a file may import from its own folder
 * and from the folders below it, never from one above. src/index.ts sits on top of the library;
 * cli/ is the thin layer of commands over it.
 */
const LAYERS = ['util', 'native', 'data', 'model/cells', 'model', 'sample', 'train', 'run', 'report', 'web', 'cli'];

/** One zone per layer: nothing in it may import from a layer above it (nor from src/index.ts). */
const layerZones = LAYERS.map((layer, rank) => ({
  target: layer === 'model' ? ['./src/model/*.ts'] : [`./src/${layer}/**`],
  from: [...LAYERS.slice(rank + 1).map((above) => (above === 'model' ? './src/model/*.ts' : `./src/${above}/**`)), './src/index.*'],
  message: `${layer}/ is below ${LAYERS.slice(rank + 1).join(', ')}: import only from ${layer}/ or the layers below it (docs/architecture.md).`,
}));

/**
 * The modules the page reaches (web/site.ts's pageModules follows its imports; docs/architecture.md):
 * they run in a browser, so neither they nor what they import may use Node.
 */
const BROWSER_MODULES = [
  'src/web/page/**/*.ts',
  'src/model/**/*.ts',
  'src/sample/choose.ts',
  'src/sample/generate.ts',
  'src/sample/inspect.ts',
  'src/sample/sampler.ts',
  'src/data/batches.ts',
  'src/data/vocabulary.ts',
  'src/native/ops.ts',
  'src/native/step-model.ts',
  'src/run/files.ts',
  'src/util/errors.ts',
  'src/util/parse.ts',
  'src/util/random.ts',
  'src/util/tidy.ts',
];

/** The library's modules that use Node (each imports a `node:` module); the browser's may import their types only. */
const NODE_MODULES = [
  'native/addon-build',
  'native/backend',
  'native/cache-lock',
  'native/capabilities',
  'native/installation',
  'native/native-cache',
  'native/native-setup',
  'native/quiet-load',
  'native/tfjs-node',
  'native/tfjs-node-view',
  'data/corpus',
  'run/checkpoint',
  'run/ensemble-run',
  'run/run-directory',
  'train/data-parallel',
  'train/replica-worker',
  'report/metrics',
  'util/fs',
  'web/site',
  'web/serve',
].map((module) => `**/${module}.js`);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-results/', 'runs/', 'coverage/', '.venv/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        setImmediate: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        Buffer: 'readonly',
        structuredClone: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // Without .ts among its extensions import-x resolves no TypeScript file, and no-cycle sees nothing.
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: layerZones }],
      // One import statement per module, in one order: Node's modules, then packages, then ours.
      'import-x/no-duplicates': ['error', { 'prefer-inline': true }],
      'import-x/order': ['error', { groups: ['builtin', 'external', ['parent', 'sibling', 'index']], 'newlines-between': 'never' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // What the page reaches runs in a browser: no Node module, directly or through the library
    // (web/site.ts also refuses to build a page whose imports reach one).
    files: BROWSER_MODULES,
    rules: {
      'no-restricted-globals': ['error', 'process', 'Buffer', 'setImmediate'],
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'the page runs in a browser (BROWSER_MODULES in eslint.config.js)' },
            { group: NODE_MODULES, allowTypeImports: true, message: 'that module uses Node, and the page runs in a browser: import its types only' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/web/page/**/*.ts'],
    languageOptions: {
      globals: {
        document: 'readonly',
        fetch: 'readonly',
        HTMLElement: 'readonly',
        HTMLInputElement: 'readonly',
        HTMLSelectElement: 'readonly',
        HTMLTextAreaElement: 'readonly',
        HTMLButtonElement: 'readonly',
        HTMLFormElement: 'readonly',
        HTMLSpanElement: 'readonly',
        HTMLTableElement: 'readonly',
        Option: 'readonly',
        Worker: 'readonly',
        MessageEvent: 'readonly',
        postMessage: 'readonly',
        addEventListener: 'readonly',
      },
    },
  },
  prettier,
);
