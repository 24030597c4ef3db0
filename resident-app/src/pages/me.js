// Me: who I am, my account number and its code for recycling stations, and everything else.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

import * as api from '../api.js';
import { Facts, Page, ProblemNote, useBlobUrl } from '../components.js';
import { useApp } from '../context.js';
import { href } from '../router.js';

const LINKS = ['actions', 'sources', 'transfer', 'retire', 'donate', 'privacy'];

function AccountCode() {
  const { t } = useApp();
  const [image, setImage] = useState(null);
  const src = useBlobUrl(image?.ok ? image.data : null);
  const show = async () => setImage(await api.request('GET', '/me/account-code.png', { as: 'blob' }));
  if (src) return html`<img class="qr small" src=${src} alt=${t('me.code.alt')} />`;
  return html`<button type="button" onClick=${show}>${t('me.code.show')}</button><${ProblemNote} result=${image} />`;
}

export function Me() {
  const { t, session, signedOut } = useApp();
  const { user, account } = session.me;
  const signOut = async () => {
    await api.signOut();
    signedOut();
  };
  return html`<${Page} title=${t('me.title')}>
    <${Facts} rows=${[[t('field.display_name'), user.display_name], [t('field.phone'), user.phone_masked],
      account && [t('me.account'), html`<code id="account-number">${account.number}</code>`]]} />
    <p class="explain">${t('me.account.explain')}</p>
    ${account ? html`<${AccountCode} />` : null}
    <nav aria-label=${t('me.more')}>
      <ul class="menu">${LINKS.map((name) => html`<li><a href=${href(name)}>${t(`${name}.title`)}
        <span class="explain">${t(`me.link.${name}`)}</span></a></li>`)}</ul>
    </nav>
    <button type="button" onClick=${signOut}>${t('me.signout')}</button>
  <//>`;
}
