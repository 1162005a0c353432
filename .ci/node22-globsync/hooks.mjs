// Module resolution hook: `fs` and `node:fs` resolve to fs.mjs (node:fs plus globSync), except
// inside fs.mjs itself, which imports the real one.
const shim = new URL('./fs.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL !== shim) {
    return { url: shim, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
