// Sign in and sign up: the refresh token goes into an httpOnly cookie (api.js), never into script.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

import * as api from '../api.js';
import { Field, Notice, Page, ProblemNote, Submit } from '../components.js';
import { useApp } from '../context.js';
import { DISTRICTS } from '../districts.js';
import { href } from '../router.js';

function useSessionForm(open) {
  const { signedIn } = useApp();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    const answered = await open(new FormData(event.currentTarget));
    setBusy(false);
    setResult(answered);
    if (answered.ok) await signedIn();
  };
  return { busy, result, submit };
}

export function SignIn() {
  const { t, notice } = useApp();
  const form = useSessionForm((data) => api.signIn(data.get('phone').trim(), data.get('password')));
  return html`<${Page} title=${t('signin.title')}>
    ${notice ? html`<${Notice}>${t(notice)}<//>` : null}
    <p class="lead">${t('signin.lead')}</p>
    <form class="stack" onSubmit=${form.submit}>
      <${Field} label=${t('field.phone')}>
        <input name="phone" type="tel" inputmode="numeric" autocomplete="username" required /><//>
      <${Field} label=${t('field.password')}>
        <input name="password" type="password" autocomplete="current-password" required /><//>
      <${Submit} busy=${form.busy}>${t('signin.submit')}<//>
    </form>
    <${ProblemNote} result=${form.result} />
    <p>${t('signin.new')} <a href=${href('signup')}>${t('signup.title')}</a></p>
  <//>`;
}

export function SignUp() {
  const { t } = useApp();
  const form = useSessionForm((data) => api.signUp({
    phone: data.get('phone').trim(), password: data.get('password'), display_name: data.get('display_name'),
    ...(data.get('district') ? { district: data.get('district') } : {}),
  }));
  return html`<${Page} title=${t('signup.title')}>
    <p class="lead">${t('signup.lead')}</p>
    <form class="stack" onSubmit=${form.submit}>
      <${Field} label=${t('field.phone')} hint=${t('signup.phone.hint')}>
        <input name="phone" type="tel" inputmode="numeric" autocomplete="tel" required /><//>
      <${Field} label=${t('field.password')} hint=${t('signup.password.hint')}>
        <input name="password" type="password" autocomplete="new-password" minlength="8" required /><//>
      <${Field} label=${t('field.display_name')}>
        <input name="display_name" autocomplete="nickname" maxlength="32" required /><//>
      <${Field} label=${t('field.district')} hint=${t('signup.district.hint')}>
        <select name="district">
          <option value="">${t('signup.district.none')}</option>
          ${DISTRICTS.map((district) => html`<option value=${district}>${district}</option>`)}
        </select><//>
      <${Submit} busy=${form.busy}>${t('signup.submit')}<//>
    </form>
    <${ProblemNote} result=${form.result} />
    <p>${t('signup.have')} <a href=${href('signin')}>${t('signin.title')}</a></p>
  <//>`;
}
