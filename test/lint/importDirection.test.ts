// The import direction of DESIGN.md §1 is a lint rule; these cases prove it fires (and stays quiet where allowed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: [file: string, code: string, allowed: boolean][] = [
  ['src/protocol/x.ts', "import { a } from '../storage/database.ts';\nexport const b = a;", false],
  ['src/protocol/x.ts', "import { createActor } from 'xstate';\nexport const b = createActor;", false],
  ['src/protocol/x.ts', "import { stateKey } from './events.ts';\nexport const b = stateKey;", true],
  ['machines/x.ts', "import { a } from '../actors/system.ts';\nexport const b = a;", false],
  ['machines/x.ts', "import { Pool } from 'pg';\nexport const b = Pool;", false],
  ['machines/x.ts', "import { setup } from 'xstate';\nexport const b = setup;", true],
  ['src/http/x.ts', "import { a } from '../../actors/system.ts';\nexport const b = a;", false],
  ['src/http/x.ts', "import { a } from '../../machines/userStream.ts';\nexport const b = a;", false],
  ['src/http/x.ts', "import { createActor } from 'xstate';\nexport const b = createActor;", false],
  ['src/http/x.ts', "import { MatrixError } from './errors.ts';\nexport const b = MatrixError;", true],
  ['src/storage/x.ts', "import { a } from '../../actors/system.ts';\nexport const b = a;", false],
  ['src/main.ts', "import { a } from '../actors/system.ts';\nexport const b = a;", true],
];

for (const [file, code, allowed] of cases) {
  test(`${file}: ${code.split('\n')[0]} is ${allowed ? 'allowed' : 'refused'}`, async () => {
    const messages = await restrictedImports(file, code);
    if (allowed) assert.deepEqual(messages, []);
    else assert.equal(messages.length, 1, 'expected exactly one import-direction error');
  });
}
