// Privacy (PIPL arts. 44–47): export everything about me, or close my account.
// GET /me/export and DELETE /me follow RESIDENTS.md; a server that does not have them yet answers
// 404 or 405, which the page says in words instead of showing a bare error.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

import * as api from '../api.js';
import { Field, Notice, Page, ProblemNote, Submit } from '../components.js';
import { useApp } from '../context.js';
import { shanghaiDay } from '../format.js';

const NOT_ON_THIS_SERVER = new Set([404, 405]);

function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download has long started by then
}

function Export() {
  const { t } = useApp();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const download = async () => {
    setBusy(true);
    const answered = await api.request('GET', '/me/export', { as: 'blob' });
    if (answered.ok) saveFile(answered.data, `binzhou-carbon-export-${shanghaiDay(Date.now())}.zip`);
    setResult(answered);
    setBusy(false);
  };
  return html`<section aria-labelledby="export-heading">
    <h2 id="export-heading">${t('privacy.export.title')}</h2>
    <p>${t('privacy.export.explain')}</p>
    <button type="button" class="primary" id="export" onClick=${download} disabled=${busy} aria-busy=${busy ? 'true' : 'false'}>
      ${t('privacy.export.button')}</button>
    ${result?.ok ? html`<${Notice}>${t('privacy.export.done')}<//>` : null}
    ${NOT_ON_THIS_SERVER.has(result?.status) ? html`<${Notice} kind="warn">${t('privacy.export.not_yet')}<//>`
      : html`<${ProblemNote} result=${result} />`}
  </section>`;
}

function Close() {
  const { t, session, signedOut } = useApp();
  const [balance, setBalance] = useState('donate');
  const [pending, setPending] = useState(null); // the request body, waiting for confirmation
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);

  const ask = (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    setResult(null);
    setPending({ password: data.get('password'), balance,
                 ...(balance === 'retire' ? { beneficiary: data.get('beneficiary') } : {}) });
  };
  const confirm = async () => {
    setBusy(true);
    const answered = await api.request('DELETE', '/me', { body: pending });
    setBusy(false);
    setPending(null);
    setResult(answered);
    if (answered.ok) {
      await api.signOut(); // the server revoked the sessions; this deletes the refresh cookie
      signedOut('privacy.close.done');
    }
  };

  return html`<section aria-labelledby="close-heading">
    <h2 id="close-heading">${t('privacy.close.title')}</h2>
    <p>${t('privacy.close.explain')}</p>
    <form class="stack" onSubmit=${ask}>
      <${Field} label=${t('field.password')}>
        <input name="password" type="password" autocomplete="current-password" required /><//>
      <fieldset>
        <legend>${t('privacy.close.balance')}</legend>
        ${['donate', 'retire'].map((choice) => html`<label class="choice">
          <input type="radio" name="balance" value=${choice} checked=${balance === choice}
            onChange=${() => setBalance(choice)} /> ${t(`privacy.close.${choice}`)}</label>`)}
      </fieldset>
      ${balance === 'retire' ? html`<${Field} label=${t('field.beneficiary')}>
        <input name="beneficiary" maxlength="100" required defaultValue=${session.me?.user.display_name || ''} /><//>` : null}
      <label class="choice"><input type="checkbox" name="understood" required /> ${t('privacy.close.understood')}</label>
      <${Submit} busy=${busy} className="danger">${t('privacy.close.button')}<//>
    </form>
    ${pending ? html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text">
      <p id="confirm-title"><b>${t('privacy.close.confirm.title')}</b></p>
      <p id="confirm-text">${t(`privacy.close.confirm.${pending.balance}`)}</p>
      <div class="actions-row">
        <button type="button" class="danger" id="confirm-close" onClick=${confirm} disabled=${busy}>${t('privacy.close.confirm.yes')}</button>
        <button type="button" onClick=${() => setPending(null)}>${t('cancel')}</button>
      </div>
    </div>` : null}
    ${NOT_ON_THIS_SERVER.has(result?.status) ? html`<${Notice} kind="warn">${t('privacy.close.not_yet')}<//>`
      : html`<${ProblemNote} result=${result} />`}
  </section>`;
}

export function Privacy() {
  const { t } = useApp();
  return html`<${Page} title=${t('privacy.title')}>
    <p class="lead">${t('privacy.lead')}</p>
    <${Export} />
    <${Close} />
  <//>`;
}
