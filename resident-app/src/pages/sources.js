// Data sources: who may report my green actions, what each shares, authorize or withdraw; and the
// history of every authorization and withdrawal (GET /me/consents, PIPL).
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';

import { request } from '../api.js';
import { Page, ProblemNote } from '../components.js';
import { useApp } from '../context.js';
import { when } from '../format.js';

export function Sources() {
  const { t, lang } = useApp();
  const [sources, setSources] = useState(null);
  const [granted, setGranted] = useState({});
  const [history, setHistory] = useState(null); // GET /me/consents: every authorization and withdrawal
  const [result, setResult] = useState(null);

  const load = async () => {
    const [all, mine, consents] = await Promise.all([
      request('GET', '/sources'), request('GET', '/me/sources'), request('GET', '/me/consents?limit=20')]);
    const failed = [all, mine, consents].find((answered) => !answered.ok);
    if (failed) {
      setResult(failed);
      return;
    }
    setSources(all.data.items);
    setGranted(Object.fromEntries(mine.data.items.map((grant) => [grant.code, grant.authorized_at])));
    setHistory(consents.data.items);
  };
  useEffect(() => {
    load();
  }, []);

  const toggle = async (code) => {
    const answered = await request(granted[code] ? 'DELETE' : 'PUT', `/me/sources/${encodeURIComponent(code)}`);
    setResult(answered.ok ? null : answered);
    if (answered.ok) await load();
  };

  return html`<${Page} title=${t('sources.title')}>
    <p class="lead">${t('sources.lead')}</p>
    <${ProblemNote} result=${result} />
    ${sources === null && !result ? html`<p role="status">${t('loading')}</p>` : null}
    <ul class="cards">
      ${(sources || []).map((source) => html`<li class="card" key=${source.code}>
        <p class="card-head"><b>${source.name}</b>
          <span class=${`badge ${granted[source.code] ? 'quantified' : ''}`}>
            ${granted[source.code] ? t('sources.on') : t('sources.off')}</span></p>
        <p>${t(`sources.shares.${source.kind}`)}</p>
        ${granted[source.code] ? html`<p class="meta">${t('sources.since', { time: when(granted[source.code], lang) })}</p>` : null}
        <button type="button" class=${granted[source.code] ? '' : 'primary'} onClick=${() => toggle(source.code)}>
          ${granted[source.code] ? t('sources.withdraw', { name: source.name }) : t('sources.authorize', { name: source.name })}
        </button>
      </li>`)}
    </ul>
    <p class="explain">${t('sources.pipl')}</p>
    ${history ? html`<section aria-labelledby="consent-history-heading">
      <h2 id="consent-history-heading">${t('sources.history.title')}</h2>
      ${history.length ? html`<ol class="consent-history">
        ${history.map((event) => html`<li key=${event.id}>
          <span class="meta">${when(event.at, lang)}</span>
          ${t(`sources.history.${event.action}`, { name: event.source_name })}</li>`)}
      </ol>` : html`<p class="meta">${t('sources.history.none')}</p>`}
    </section>` : null}
  <//>`;
}
