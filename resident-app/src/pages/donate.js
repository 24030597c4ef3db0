// Donate to the pool (碳普惠池): anyone can see what it holds and what it was given.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';

import { request } from '../api.js';
import { Facts, Notice, Page, ProblemNote, Serials, Submit, useCreditForm } from '../components.js';
import { useApp } from '../context.js';
import { kg } from '../format.js';
import { AmountField, Balance } from './credit-fields.js';

export function Donate() {
  const { t, lang, reloadMe } = useApp();
  const [pool, setPool] = useState(null);
  const loadPool = async () => setPool(await request('GET', '/market/pool', { auth: false }));
  useEffect(() => {
    loadPool();
  }, []);
  const form = useCreditForm(async (key, data) => {
    const answered = await request('POST', '/me/pool-donations', {
      headers: { 'Idempotency-Key': key }, body: { amount_g: Number(data.get('amount_g')) },
    });
    if (answered.ok) {
      reloadMe();
      loadPool();
    }
    return answered;
  });
  return html`<${Page} title=${t('donate.title')}>
    <p class="lead">${t('donate.lead')}</p>
    ${pool?.ok ? html`<${Facts} id="pool" rows=${[
      [t('donate.pool.account'), html`<code>${pool.data.account_number}</code>`],
      [t('donate.pool.holds'), kg(pool.data.credits_g, lang)],
      [t('donate.pool.received'), kg(pool.data.donated_total_g, lang)]]} />` : html`<${ProblemNote} result=${pool} />`}
    <${Balance} />
    <form class="stack" onSubmit=${form.submit}>
      <${AmountField} />
      <${Submit} busy=${form.busy}>${t('donate.submit')}<//>
    </form>
    ${form.result?.ok ? html`<${Notice}><p>${t('donate.done', { amount: kg(form.result.data.amount_g, lang) })}</p>
      <${Serials} serials=${form.result.data.serials} /><//>` : html`<${ProblemNote} result=${form.result} />`}
  <//>`;
}
