// Boot: draw the app, and register the service worker that keeps the shell for offline use.
import { html } from 'htm/preact';
import { render } from 'preact';

import { App } from './app.js';
import './style.css';

render(html`<${App} />`, document.getElementById('app'));

// Scope /app (not just /app/): the server allows it with Service-Worker-Allowed, so an address
// typed without the slash opens offline too.
navigator.serviceWorker?.register('/app/sw.js', { scope: '/app' }).catch(() => {
  // Private modes and some embedded browsers refuse service workers: the app still works online.
});
