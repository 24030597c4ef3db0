// Builds the resident app into api/static/app/, which Flask serves at /app (api/resident_app.py).
// The output is committed, so the platform's run and test commands need no Node.js; rebuild with
// `npm ci && npm run build` here after changing anything in this folder, and commit both.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

import { en } from './src/i18n/en.js';
import { zh } from './src/i18n/zh.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const OUT = join(HERE, '..', 'api', 'static', 'app');
const NOT_SOURCES = new Set(['node_modules']);

/** Every source file of the app, as paths relative to this folder, sorted. */
function sources(folder = HERE) {
  return readdirSync(folder).filter((name) => !NOT_SOURCES.has(name)).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? sources(path) : [relative(HERE, path).split(sep).join('/')];
  }).sort();
}

/** One digest of all the sources; tests/test_resident_app.py computes the same to tell whether
 * the committed build is of the sources as they stand. */
function sourceDigest() {
  const hash = createHash('sha256');
  for (const path of sources()) hash.update(`${path}\0`).update(readFileSync(join(HERE, path))).update('\0');
  return hash.digest('hex');
}

function publicFiles(folder = join(HERE, 'public')) {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? publicFiles(path) : [relative(join(HERE, 'public'), path).split(sep).join('/')];
  });
}

/** Both dictionaries name the same keys: no English page shows a Chinese word by accident. */
function sameKeys() {
  const missing = (from, to) => Object.keys(from).filter((key) => !(key in to));
  const problems = [...missing(zh, en).map((key) => `en.js lacks ${key}`), ...missing(en, zh).map((key) => `zh.js lacks ${key}`)];
  if (problems.length) throw new Error(`dictionaries differ: ${problems.join('; ')}`);
}

/** The service worker, knowing every file of this build, and the stamp of the sources built. */
function serviceWorkerAndStamp() {
  const digest = sourceDigest();
  return {
    name: 'binzhou-service-worker',
    apply: 'build',
    buildStart: sameKeys,
    generateBundle(_, bundle) {
      const built = Object.keys(bundle).filter((name) => name !== 'index.html');
      const precache = ['/app/', ...[...built, ...publicFiles()].sort().map((name) => `/app/${name}`)];
      const worker = readFileSync(join(HERE, 'sw.js'), 'utf8')
        .replace('self.__VERSION__', JSON.stringify(digest.slice(0, 16)))
        .replace('self.__PRECACHE__', JSON.stringify(precache, null, 2));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: worker });
      this.emitFile({ type: 'asset', fileName: 'build-stamp.json', source: `${JSON.stringify({ sources_sha256: digest }, null, 2)}\n` });
    },
  };
}

export default defineConfig({
  base: '/app/',
  plugins: [serviceWorkerAndStamp()],
  build: {
    outDir: OUT,
    emptyOutDir: true,
    modulePreload: false, // one script: nothing to preload, and no inline polyfill for the CSP to refuse
    reportCompressedSize: false,
  },
});
