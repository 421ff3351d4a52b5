// Lint rules, including the import direction of DESIGN.md §1:
//   src/protocol imports nothing of ours; machines/ imports xstate and pure helpers only;
//   src/http never imports actors/, machines/ or xstate; only src/main.ts (and tests) assemble everything.
import tseslint from 'typescript-eslint';

const io = ['pg', 'pg/*', '@electric-sql/*', 'fastify', '@fastify/*', 'pino', 'pino-*', 'ws', 'node:*', 'prom-client'];
const onlyMainAssembles = {
  group: ['**/actors', '**/actors/*'],
  message: 'Only src/main.ts and tests assemble the actor system (DESIGN.md §1).',
};
const restrict = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'test-artifacts/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/main.ts', 'src/cli.ts', 'src/protocol/**', 'src/http/**'],
    rules: restrict(onlyMainAssembles),
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: restrict(
      { group: ['../*'], message: 'src/protocol imports nothing else of ours (DESIGN.md §1).' },
      { group: ['xstate', '@xstate/*', ...io.filter((p) => p !== 'node:*')], message: 'src/protocol is pure.' },
    ),
  },
  {
    files: ['machines/**/*.ts'],
    rules: restrict(
      { group: ['../actors', '../actors/*', '../src/storage/*', '../src/http/*', '../src/main.ts', '../src/cli.ts'], message: 'machines/ imports xstate and pure helpers only (DESIGN.md §1).' },
      { group: io, message: 'machines/ are pure statecharts: effects are provided in actors/ (DESIGN.md §1).' },
    ),
  },
  {
    files: ['src/http/**/*.ts'],
    rules: restrict(
      { group: ['**/actors', '**/actors/*', '**/machines', '**/machines/*'], message: 'src/http talks to the actor system through a port, never directly (DESIGN.md §1).' },
      { group: ['xstate', '@xstate/*'], message: 'src/http never imports xstate (DESIGN.md §1).' },
    ),
  },
);
