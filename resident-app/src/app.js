// The shell: header with the language switch, the offline notice, the page for the route, the tab bar.
import { html } from 'htm/preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';

import * as api from './api.js';
import { Page } from './components.js';
import { AppContext, useApp } from './context.js';
import { initialLanguage, rememberLanguage, translator } from './i18n.js';
import { Actions } from './pages/actions.js';
import { CouponCode } from './pages/coupon-code.js';
import { Coupons } from './pages/coupons.js';
import { Donate } from './pages/donate.js';
import { Home } from './pages/home.js';
import { Me } from './pages/me.js';
import { Privacy } from './pages/privacy.js';
import { Retire } from './pages/retire.js';
import { SignIn, SignUp } from './pages/sign-in.js';
import { Sources } from './pages/sources.js';
import { Transfer } from './pages/transfer.js';
import { Trip } from './pages/trip.js';
import { go, href, useRoute } from './router.js';

const PAGES = {
  home: Home, trip: Trip, actions: Actions, sources: Sources, coupons: Coupons, transfer: Transfer,
  retire: Retire, donate: Donate, privacy: Privacy, me: Me,
};
const TABS = [['home', 'nav.home'], ['trip', 'nav.trip'], ['coupons', 'nav.coupons'], ['me', 'nav.me']];

function useOnline() {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, []);
  return online;
}

function startingLanguage() {
  const lang = initialLanguage();
  api.setLanguage(lang); // before the first request goes out
  return lang;
}

export function App() {
  const [lang, setLang] = useState(startingLanguage);
  const t = useMemo(() => translator(lang), [lang]);
  // state: 'starting' | 'signed-in' | 'signed-out' | 'offline'; me: GET /me's answer
  const [session, setSession] = useState({ state: 'starting', me: null });
  const [notice, setNotice] = useState(null); // a message key for the sign-in page (account closed)
  const online = useOnline();
  const route = useRoute();

  const switchLanguage = () => {
    const next = lang === 'en' ? 'zh-CN' : 'en';
    api.setLanguage(next);
    rememberLanguage(next);
    setLang(next);
  };
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);

  const reloadMe = useCallback(async () => {
    const me = await api.request('GET', '/me');
    if (me.ok) setSession({ state: 'signed-in', me: me.data });
    else if (me.status === 401) setSession({ state: 'signed-out', me: null });
    return me;
  }, []);

  // A reload or a new visit: sign in again through the refresh cookie, if there is a live one.
  const resume = useCallback(async () => {
    const outcome = await api.refresh();
    if (outcome === 'signed-in') await reloadMe();
    else setSession({ state: outcome, me: null });
  }, [reloadMe]);
  useEffect(() => {
    resume();
  }, []);
  useEffect(() => {
    if (online && session.state === 'offline') resume();
  }, [online]);

  const signedIn = useCallback(async () => {
    setNotice(null);
    await reloadMe();
    go('home');
  }, [reloadMe]);
  const signedOut = useCallback((noticeKey = null) => {
    api.forgetSession();
    setNotice(noticeKey);
    setSession({ state: 'signed-out', me: null });
    go('signin');
  }, []);
  useEffect(() => api.onSessionEnd(() => signedOut()), []);

  const context = useMemo(() => ({ t, lang, session, online, notice, reloadMe, signedIn, signedOut }),
    [t, lang, session, online, notice]);
  const offline = !online || session.state === 'offline';

  return html`<${AppContext.Provider} value=${context}>
    <a class="skip" href="#main" onClick=${skipToContent}>${t('skip')}</a>
    <header class="top">
      <a class="brand" href=${href('home')}>${t('app.name')}</a>
      <button type="button" class="language" lang=${t('lang.other.tag')} onClick=${switchLanguage}>${t('lang.other')}</button>
    </header>
    ${offline ? html`<p class="offline" role="status">${t('offline.banner')}</p>` : null}
    <main id="main">${page(route, session, t)}</main>
    ${session.state === 'signed-in' ? html`<nav class="tabs" aria-label=${t('nav.label')}>
      ${TABS.map(([name, label]) => html`<a href=${href(name)}
        aria-current=${route.split('/')[0] === name || (name === 'home' && !route) ? 'page' : null}>${t(label)}</a>`)}
    </nav>` : null}
  <//>`;
}

// The skip link cannot follow its #main: the hash is the route. It moves the focus instead.
function skipToContent(event) {
  event.preventDefault();
  document.getElementById('page-title')?.focus();
}

function page(route, session, t) {
  const [name, id] = route.split('/');
  if (session.state === 'starting') return html`<p class="loading" role="status">${t('loading')}</p>`;
  if (session.state !== 'signed-in') {
    if (session.state === 'offline') return html`<${Offline} />`;
    return name === 'signup' ? html`<${SignUp} />` : html`<${SignIn} />`;
  }
  if (name === 'coupons' && id) return html`<${CouponCode} couponId=${id} />`;
  const Chosen = PAGES[name] || Home;
  return html`<${Chosen} />`;
}

function Offline() {
  const { t } = useApp();
  return html`<${Page} title=${t('offline.title')}><p>${t('offline.explain')}</p><//>`;
}
