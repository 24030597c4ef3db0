// My actions: every trip and drop-off with its status, what it earned, and the rule behind it.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';

import { request } from '../api.js';
import { Page, ProblemNote } from '../components.js';
import { useApp } from '../context.js';
import { kg, when } from '../format.js';

function what(event, t, lang) {
  if (event.kind === 'recycling') {
    return `${t(`category.${event.category}`)} · ${kg(event.weight_g, lang)}`;
  }
  const amount = event.mode === 'walk' ? t('unit.steps', { steps: event.steps })
    : t('unit.km', { km: (event.distance_m / 1000).toLocaleString(lang === 'en' ? 'en-GB' : 'zh-CN') });
  return `${t(`mode.${event.mode}`)} · ${amount}`;
}

/** The rule in plain words: why it was refused, what the cap took, how the grams were computed. */
function Rule({ event }) {
  const { t, lang } = useApp();
  if (event.status === 'rejected') {
    return html`<p class="rule bad">${t('actions.refused')} ${event.reason_text || event.reason}</p>`;
  }
  if (event.status === 'received') return html`<p class="rule">${t('actions.waiting')}</p>`;
  return html`<p class="rule">
    ${event.capped_g ? html`${t('actions.capped', { capped: kg(event.capped_g, lang) })}<br />` : null}
    ${event.rationale ? html`<span class="how">${t('actions.how')} <span dir="ltr">${event.rationale}</span></span>` : null}
  </p>`;
}

export function Actions() {
  const { t, lang } = useApp();
  const [events, setEvents] = useState([]);
  const [cursor, setCursor] = useState(undefined); // undefined: not loaded yet; null: no more
  const [problem, setProblem] = useState(null);

  const load = async (from) => {
    const result = await request('GET', `/me/events?limit=20${from ? `&cursor=${encodeURIComponent(from)}` : ''}`);
    if (!result.ok) {
      setProblem(result);
      return;
    }
    setEvents((known) => (from ? [...known, ...result.data.items] : result.data.items));
    setCursor(result.data.next_cursor);
  };
  useEffect(() => {
    load(null);
  }, []);

  return html`<${Page} title=${t('actions.title')}>
    <p class="lead">${t('actions.lead')}</p>
    <${ProblemNote} result=${problem} />
    ${cursor === undefined && !problem ? html`<p role="status">${t('loading')}</p>` : null}
    ${cursor !== undefined && events.length === 0 ? html`<p>${t('actions.none')}</p>` : null}
    <ul class="cards">
      ${events.map((event) => html`<li class=${`card status-${event.status}`} key=${event.id}>
        <p class="card-head"><b>${what(event, t, lang)}</b>
          <span class=${`badge ${event.status}`}>${t(`status.${event.status}`)}</span></p>
        <p class="meta">${when(event.started_at, lang)} · ${t('actions.source', { source: event.source })}</p>
        ${event.reduction_g !== null ? html`<p class="amount">${t('actions.reduction', { reduction: kg(event.reduction_g, lang) })}</p>` : null}
        <${Rule} event=${event} />
      </li>`)}
    </ul>
    ${cursor ? html`<button type="button" onClick=${() => load(cursor)}>${t('more')}</button>` : null}
  <//>`;
}
