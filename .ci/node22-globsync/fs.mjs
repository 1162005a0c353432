// node:fs with the globSync of Node 22 (patterns with *, ** and ?; options.cwd and options.exclude),
// enough for the conformance CLI, which looks for `**/checks.json` under a results folder.
import fs from 'node:fs';
import path from 'node:path';

export * from 'node:fs';
export default fs;

function toRegExp(pattern) {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else {
      source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

export function globSync(pattern, options = {}) {
  const patterns = (Array.isArray(pattern) ? pattern : [pattern]).map((p) => toRegExp(p.split(path.sep).join('/')));
  const cwd = options.cwd ? String(options.cwd instanceof URL ? options.cwd.pathname : options.cwd) : process.cwd();
  const exclude = typeof options.exclude === 'function' ? options.exclude : () => false;
  const found = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(path.join(cwd, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const rel = dir ? `${dir}/${entry.name}` : entry.name;
      if (exclude(rel)) continue;
      if (patterns.some((re) => re.test(rel))) found.push(rel.split('/').join(path.sep));
      if (entry.isDirectory()) walk(rel);
    }
  };
  walk('');
  return found;
}
