// Retire (注销): credits taken out of circulation for good, in someone's name, with a certificate.
import { html } from 'htm/preact';

import { request } from '../api.js';
import { Field, Notice, Page, ProblemNote, Serials, Submit, useCreditForm } from '../components.js';
import { useApp } from '../context.js';
import { kg } from '../format.js';
import { AmountField, Balance } from './credit-fields.js';

export function Retire() {
  const { t, lang, session, reloadMe } = useApp();
  const form = useCreditForm(async (key, data) => {
    const answered = await request('POST', '/retirements', {
      headers: { 'Idempotency-Key': key },
      body: { amount_g: Number(data.get('amount_g')), beneficiary: data.get('beneficiary'), purpose: data.get('purpose') },
    });
    if (answered.ok) reloadMe();
    return answered;
  });
  const done = form.result?.ok ? form.result.data : null;
  return html`<${Page} title=${t('retire.title')}>
    <p class="lead">${t('retire.lead')}</p>
    <${Balance} />
    <form class="stack" onSubmit=${form.submit}>
      <${AmountField} />
      <${Field} label=${t('field.beneficiary')}>
        <input name="beneficiary" maxlength="100" required defaultValue=${session.me?.user.display_name || ''} /><//>
      <${Field} label=${t('field.purpose')}>
        <input name="purpose" maxlength="200" required placeholder=${t('retire.purpose.example')} /><//>
      <${Submit} busy=${form.busy}>${t('retire.submit')}<//>
    </form>
    ${done ? html`<${Notice}>
      <p>${t('retire.done', { amount: kg(done.amount_g, lang), number: done.number })}</p>
      <p><a class="button primary" id="certificate" href=${done.certificate_url} target="_blank" rel="noopener">
        ${t('retire.certificate')}</a></p>
      <${Serials} serials=${done.serials} /><//>` : html`<${ProblemNote} result=${form.result} />`}
  <//>`;
}
