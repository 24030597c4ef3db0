// Record a trip: the answer says accepted (and what it earned), a duplicate, or why not.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

import { request } from '../api.js';
import { Field, Notice, Page, ProblemNote, Submit } from '../components.js';
import { useApp } from '../context.js';
import { fromLocalInput, kg, localInputValue } from '../format.js';
import { href } from '../router.js';

export const MODES = ['bus', 'metro', 'bike', 'walk', 'ev'];
const FOLLOW_TRIES = 6;

/** The trip's external_id: the same trip sent twice (a double tap, a retry) is one event, which
 * the API then answers as a duplicate. Salted with the account so two residents never collide. */
async function tripId(accountNumber, body) {
  const text = [accountNumber, body.mode, body.started_at, body.ended_at, body.distance_m ?? '', body.steps ?? ''].join('|');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return `h5-${Array.from(digest.slice(0, 20), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The event once quantified (in-process on a small server, by a worker on a big one): asked a few
 * times with growing pauses; still `received` after that is said as such. */
async function follow(id) {
  let latest = null;
  for (let attempt = 0; attempt < FOLLOW_TRIES; attempt += 1) {
    const event = await request('GET', `/me/events/${id}`);
    if (!event.ok) return latest;
    latest = event.data;
    if (latest.status !== 'received') return latest;
    await new Promise((resolve) => { setTimeout(resolve, 400 * 2 ** attempt); });
  }
  return latest;
}

function body(data) {
  const mode = data.get('mode');
  const trip = {
    mode,
    started_at: fromLocalInput(`${data.get('start_date')}T${data.get('start_time')}`),
    ended_at: fromLocalInput(`${data.get('end_date')}T${data.get('end_time')}`),
  };
  const amount = Number(data.get('amount'));
  if (mode === 'walk') trip.steps = Math.round(amount);
  else trip.distance_m = Math.round(amount * 1000);
  return trip;
}

/** A moment as a date and a time side by side: one datetime-local box is too wide for large text
 * on a narrow phone, two boxes wrap. */
function When({ name, moment }) {
  const { t } = useApp();
  const [date, time] = localInputValue(moment).split('T');
  return html`<div class="when">
    <${Field} label=${t(`trip.${name}_date`)}><input name=${`${name}_date`} type="date" required defaultValue=${date} /><//>
    <${Field} label=${t(`trip.${name}_time`)}><input name=${`${name}_time`} type="time" required defaultValue=${time} /><//>
  </div>`;
}

export function Outcome({ event }) {
  const { t, lang } = useApp();
  if (event.status === 'rejected') {
    return html`<p><b>${t('trip.outcome.rejected')}</b> ${event.reason_text || event.reason}</p>`;
  }
  if (event.status === 'received') return html`<p>${t('trip.outcome.received')}</p>`;
  return html`<p><b>${t('trip.outcome.counted', { reduction: kg(event.reduction_g, lang) })}</b>
    ${event.capped_g ? html`<br />${t('trip.outcome.capped', { capped: kg(event.capped_g, lang) })}` : null}</p>`;
}

export function Trip() {
  const { t, session, reloadMe } = useApp();
  const [mode, setMode] = useState('bus');
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState(null); // {result, event}
  // The form's defaults: the last half hour, as the page opened. The inputs are uncontrolled
  // (defaultValue), so a re-render never undoes what the resident typed.
  const [now] = useState(Date.now);

  const submit = async (formEvent) => {
    formEvent.preventDefault();
    setBusy(true);
    setAnswer(null);
    const trip = body(new FormData(formEvent.currentTarget));
    if (trip.started_at && trip.ended_at) trip.external_id = await tripId(session.me.account.number, trip);
    const result = await request('POST', '/me/trips', { body: trip });
    setAnswer({ result, event: result.ok ? result.data : null });
    if (result.ok) {
      const event = await follow(result.data.id);
      if (event) setAnswer({ result, event });
      reloadMe();
    }
    setBusy(false);
  };

  const walking = mode === 'walk';
  return html`<${Page} title=${t('trip.title')}>
    <p class="lead">${t('trip.lead')}</p>
    <form class="stack" onSubmit=${submit}>
      <${Field} label=${t('field.mode')}>
        <select name="mode" value=${mode} onChange=${(event) => setMode(event.currentTarget.value)}>
          ${MODES.map((name) => html`<option value=${name}>${t(`mode.${name}`)}</option>`)}
        </select><//>
      <${When} name="start" moment=${now - 30 * 60_000} />
      <${When} name="end" moment=${now} />
      ${walking
        ? html`<${Field} label=${t('field.steps')} key="steps">
            <input name="amount" type="number" inputmode="numeric" min="0" step="1" required /><//>`
        : html`<${Field} label=${t('trip.distance_km')} key="distance">
            <input name="amount" type="number" inputmode="decimal" min="0" step="0.01" required /><//>`}
      <${Submit} busy=${busy}>${t('trip.submit')}<//>
    </form>
    <div id="trip-answer">
      ${answer?.result.ok ? html`<${Notice} kind=${answer.event?.status === 'rejected' ? 'bad' : 'ok'}>
          <p><b>${answer.result.data.duplicate ? t('trip.duplicate') : t('trip.accepted')}</b></p>
          ${answer.event ? html`<${Outcome} event=${answer.event} />` : null}
          <p><a href=${href('actions')}>${t('trip.see_actions')}</a></p>
        <//>` : html`<${ProblemNote} result=${answer?.result} />`}
    </div>
  <//>`;
}
