// Transfer: send credits to another account by its number.
import { html } from 'htm/preact';

import { request } from '../api.js';
import { Field, Notice, Page, ProblemNote, Serials, Submit, useCreditForm } from '../components.js';
import { useApp } from '../context.js';
import { kg } from '../format.js';
import { AmountField, Balance } from './credit-fields.js';

export function Transfer() {
  const { t, lang, reloadMe } = useApp();
  const form = useCreditForm(async (key, data) => {
    const answered = await request('POST', '/transfers', {
      headers: { 'Idempotency-Key': key },
      body: { to_account_number: data.get('to_account_number').trim().toUpperCase(),
              amount_g: Number(data.get('amount_g')), memo: data.get('memo') || null },
    });
    if (answered.ok) reloadMe();
    return answered;
  });
  return html`<${Page} title=${t('transfer.title')}>
    <p class="lead">${t('transfer.lead')}</p>
    <${Balance} />
    <form class="stack" onSubmit=${form.submit}>
      <${Field} label=${t('field.to_account_number')} hint=${t('transfer.to.hint')}>
        <input name="to_account_number" autocapitalize="characters" autocomplete="off" spellcheck="false" required /><//>
      <${AmountField} />
      <${Field} label=${t('field.memo')}><input name="memo" maxlength="200" /><//>
      <${Submit} busy=${form.busy}>${t('transfer.submit')}<//>
    </form>
    ${form.result?.ok ? html`<${Notice}><p>${t('transfer.done', { amount: kg(form.result.data.amount_g, lang) })}</p>
      <${Serials} serials=${form.result.data.serials} /><//>` : html`<${ProblemNote} result=${form.result} />`}
  <//>`;
}
