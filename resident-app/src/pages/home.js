// Home: the account's figures, today's reductions and the last 30 days, each with what it means.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';

import { collect } from '../api.js';
import { Facts, Page, ProblemNote } from '../components.js';
import { useApp } from '../context.js';
import { DAY_MS, kg, shanghaiDay } from '../format.js';
import { href } from '../router.js';

const CHART_DAYS = 30;
// Statuses whose reduction_g counts: quantified (waiting for issuance), capped, issued.
const COUNTED = new Set(['quantified', 'capped', 'issued']);
// Reports arrive up to 7 days after the action (the claim window): read that far back beyond the chart.
const LATE_ARRIVALS_MS = 7 * DAY_MS;

/** Grams per Asia/Shanghai day over the last CHART_DAYS days, oldest first, from /me/events. */
async function reductionsByDay() {
  const since = Date.now() - CHART_DAYS * DAY_MS - LATE_ARRIVALS_MS;
  const events = await collect('/me/events', (items) => Date.parse(items.at(-1).received_at) < since);
  if (!events.ok) return events;
  const days = Array.from({ length: CHART_DAYS }, (_, back) => shanghaiDay(Date.now() - (CHART_DAYS - 1 - back) * DAY_MS));
  const grams = Object.fromEntries(days.map((day) => [day, 0]));
  for (const event of events.data) {
    const day = shanghaiDay(event.started_at);
    if (COUNTED.has(event.status) && day in grams) grams[day] += event.reduction_g || 0;
  }
  return { ok: true, data: days.map((day) => ({ day, grams: grams[day] })) };
}

function Figure({ label, value, explain, id }) {
  return html`<div class="figure" id=${id}>
    <dt>${label}</dt><dd><b>${value}</b><span class="explain">${explain}</span></dd></div>`;
}

function Chart({ series }) {
  const { t, lang } = useApp();
  const best = Math.max(0, ...series.map((point) => point.grams));
  const most = Math.max(1, best); // the tallest bar's height; 1 g when every day is empty
  const total = series.reduce((sum, point) => sum + point.grams, 0);
  const width = 300;
  const height = 120;
  const slot = width / series.length;
  const summary = t('home.chart.summary', { total: kg(total, lang), best: kg(best, lang) });
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${width} ${height + 16}`} role="img" aria-labelledby="chart-title chart-desc">
      <title id="chart-title">${t('home.chart.title')}</title>
      <desc id="chart-desc">${summary}</desc>
      <line x1="0" y1=${height} x2=${width} y2=${height} class="axis" />
      ${series.map((point, index) => {
        const barHeight = (point.grams / most) * (height - 4);
        return html`<rect x=${index * slot + 1} y=${height - barHeight} width=${slot - 2} height=${barHeight}
          class=${index === series.length - 1 ? 'bar today' : 'bar'}><title>${point.day}: ${kg(point.grams, lang)}</title></rect>`;
      })}
      <text x="0" y=${height + 13} class="tick">${series[0].day.slice(5)}</text>
      <text x=${width} y=${height + 13} class="tick end">${t('home.today')}</text>
    </svg>
    <figcaption>${summary}</figcaption>
  </figure>`;
}

export function Home() {
  const { t, lang, session, reloadMe } = useApp();
  const account = session.me?.account;
  const [series, setSeries] = useState(null);
  useEffect(() => {
    reloadMe();
    reductionsByDay().then(setSeries);
  }, []);
  const today = series?.ok ? series.data.at(-1).grams : null;

  return html`<${Page} title=${t('home.title')}>
    <p class="lead">${t('home.hello', { name: session.me?.user.display_name || '' })}</p>
    ${account ? html`<dl class="figures">
      <${Figure} id="balance" label=${t('home.balance')} value=${kg(account.balance_g, lang)} explain=${t('home.balance.explain')} />
      <${Figure} id="pending" label=${t('home.pending')} value=${kg(account.pending_g, lang)} explain=${t('home.pending.explain')} />
      <${Figure} id="today" label=${t('home.today.label')} value=${today === null ? '…' : kg(today, lang)} explain=${t('home.today.explain')} />
    </dl>` : html`<p class="notice warn">${t('home.no_account')}</p>`}
    <section aria-labelledby="chart-heading">
      <h2 id="chart-heading">${t('home.chart.title')}</h2>
      <p class="explain">${t('home.chart.explain')}</p>
      ${series?.ok ? html`<${Chart} series=${series.data} />` : series ? html`<${ProblemNote} result=${series} />`
        : html`<p role="status">${t('loading')}</p>`}
    </section>
    ${account ? html`<section aria-labelledby="totals-heading">
      <h2 id="totals-heading">${t('home.totals')}</h2>
      <${Facts} rows=${[
        [t('home.issued_total'), kg(account.issued_total_g, lang)], [t('home.spent'), kg(account.spent_g, lang)],
        [t('home.retired'), kg(account.retired_g, lang)], [t('home.donated'), kg(account.donated_g, lang)]]} />
      <p class="explain">${t('home.totals.explain')}</p>
    </section>` : null}
    <p class="actions-row"><a class="button primary" href=${href('trip')}>${t('home.record')}</a>
      <a class="button" href=${href('actions')}>${t('home.see_actions')}</a></p>
  <//>`;
}
