// `node --import .ci/node22-globsync/register.mjs ...`: gives Node 20 the `fs.globSync` of Node 22,
// for ES modules that import it by name (`import { globSync } from "fs"`), as the
// @modelcontextprotocol/conformance CLI does. A no-op where fs.globSync exists. Offline: no package.
import fs from 'node:fs';
import { register } from 'node:module';

if (typeof fs.globSync !== 'function') {
  register('./hooks.mjs', import.meta.url);
}
