// The resident app's service worker: keeps the app's shell so /app opens offline (and says so).
// The build (vite.config.js) fills in VERSION and PRECACHE: every file it wrote, and the shell.
// The API is never cached: its answers are personal and only worth anything fresh.
const VERSION = "f1da47a7bd05bb7a";
const PRECACHE = [
  "/app/",
  "/app/assets/index-Bw5UxxTV.js",
  "/app/assets/index-CoNb5X2a.css",
  "/app/icons/icon-192.png",
  "/app/icons/icon-512.png",
  "/app/icons/icon-maskable-512.png",
  "/app/icons/icon.svg",
  "/app/manifest.webmanifest"
];
const CACHE = `binzhou-app-${VERSION}`;
const SHELL = '/app/';

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name.startsWith('binzhou-app-') && name !== CACHE)
      .map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || !url.pathname.startsWith('/app')) return;
  if (request.mode === 'navigate') event.respondWith(shell(request, url));
  else event.respondWith(file(request));
});

// The page: the network's when it answers (a new release shows at once), else the copy kept here.
async function shell(request, url) {
  try {
    const response = await fetch(request);
    if (response.ok && (url.pathname === '/app' || url.pathname === '/app/')) {
      const cache = await caches.open(CACHE);
      await cache.put(SHELL, response.clone());
    }
    return response;
  } catch (offline) {
    const kept = await caches.match(SHELL);
    if (kept) return kept;
    throw offline;
  }
}

// Scripts, styles, icons, the manifest: each build comes with its own worker and cache, so the
// copy kept is the one this build's page asks for.
async function file(request) {
  const kept = await caches.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}
