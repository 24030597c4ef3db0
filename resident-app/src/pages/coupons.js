// Coupons: open campaigns by district, claim one, and my coupons with their QR code.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { newIdempotencyKey, request } from '../api.js';
import { Field, Notice, Page, ProblemNote } from '../components.js';
import { useApp } from '../context.js';
import { DISTRICTS } from '../districts.js';
import { kg, when, yuan } from '../format.js';
import { href } from '../router.js';

const DISTRICT_CHOICE = 'binzhou-app-district'; // a preference, never a token

function Campaign({ campaign, onClaimed }) {
  const { t, lang } = useApp();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  // The key outlives a tap that got no answer, so the next tap retries that claim (replayed by the
  // server, never repeated); once the server has answered, another tap is another claim.
  const key = useRef(newIdempotencyKey());
  const claim = async () => {
    setBusy(true);
    const answered = await request('POST', `/campaigns/${campaign.id}/claim`, {
      headers: { 'Idempotency-Key': key.current },
    });
    if (!answered.offline) key.current = newIdempotencyKey();
    setResult(answered);
    setBusy(false);
    if (answered.ok) onClaimed(answered.data);
  };
  return html`<li class="card campaign">
    <p class="card-head"><b>${campaign.title}</b><span class="face">${yuan(campaign.face_value_fen)}</span></p>
    <p class="meta">${campaign.merchant_name} · ${campaign.district}</p>
    ${campaign.description ? html`<p>${campaign.description}</p>` : null}
    <p>${t('coupons.price', { price: kg(campaign.price_g, lang) })} ·
      ${t('coupons.remaining', { remaining: campaign.remaining, stock: campaign.stock })}</p>
    <p class="meta">${t('coupons.valid_until', { time: when(campaign.valid_until, lang) })}
      ${campaign.terms ? html` · ${campaign.terms}` : null}</p>
    ${result?.ok ? html`<${Notice}>${t('coupons.claimed')}
        <a class="button primary" href=${href(`coupons/${result.data.id}`)}>${t('coupons.show')}</a><//>`
      : html`<button type="button" class="primary" disabled=${busy || campaign.remaining === 0} aria-busy=${busy ? 'true' : 'false'}
          onClick=${claim}>${campaign.remaining === 0 ? t('coupons.sold_out') : t('coupons.claim', { title: campaign.title })}</button>`}
    <${ProblemNote} result=${result} />
  </li>`;
}

function MyCoupon({ coupon }) {
  const { t, lang } = useApp();
  return html`<li class=${`card coupon ${coupon.status}`}>
    <p class="card-head"><b>${coupon.title}</b><span class="face">${yuan(coupon.face_value_fen)}</span></p>
    <p class="meta">${coupon.merchant_name} · <span class=${`badge ${coupon.status}`}>${t(`coupon.${coupon.status}`)}</span></p>
    <p class="meta">${coupon.status === 'redeemed' ? t('coupons.redeemed_at', { time: when(coupon.redeemed_at, lang) })
      : t('coupons.expires_at', { time: when(coupon.expires_at, lang) })}</p>
    ${coupon.status === 'claimed'
      ? html`<a class="button primary" href=${href(`coupons/${coupon.id}`)}>${t('coupons.show_title', { title: coupon.title })}</a>` : null}
  </li>`;
}

export function Coupons() {
  const { t, reloadMe } = useApp();
  const [district, setDistrict] = useState(() => window.localStorage.getItem(DISTRICT_CHOICE) || '');
  const [campaigns, setCampaigns] = useState(null);
  const [mine, setMine] = useState(null);

  const loadCampaigns = async () => {
    const query = district ? `?district=${encodeURIComponent(district)}&limit=50` : '?limit=50';
    setCampaigns(await request('GET', `/campaigns${query}`));
  };
  const loadMine = async () => setMine(await request('GET', '/me/coupons?limit=50'));
  useEffect(() => {
    loadCampaigns();
  }, [district]);
  useEffect(() => {
    loadMine();
  }, []);

  const choose = (event) => {
    window.localStorage.setItem(DISTRICT_CHOICE, event.currentTarget.value);
    setDistrict(event.currentTarget.value);
  };
  const claimed = () => {
    loadMine();
    reloadMe();
  };

  return html`<${Page} title=${t('coupons.title')}>
    <section aria-labelledby="open-heading">
      <h2 id="open-heading">${t('coupons.open')}</h2>
      <${Field} label=${t('coupons.district')}>
        <select name="district" value=${district} onChange=${choose}>
          <option value="">${t('coupons.all_districts')}</option>
          ${DISTRICTS.map((name) => html`<option value=${name}>${name}</option>`)}
        </select><//>
      ${campaigns === null ? html`<p role="status">${t('loading')}</p>` : null}
      <${ProblemNote} result=${campaigns} />
      ${campaigns?.ok && campaigns.data.items.length === 0 ? html`<p>${t('coupons.none_open')}</p>` : null}
      <ul class="cards">${campaigns?.ok ? campaigns.data.items.map((campaign) => html`<${Campaign}
        key=${campaign.id} campaign=${campaign} onClaimed=${claimed} />`) : null}</ul>
    </section>
    <section aria-labelledby="mine-heading">
      <h2 id="mine-heading">${t('coupons.mine')}</h2>
      <${ProblemNote} result=${mine} />
      ${mine?.ok && mine.data.items.length === 0 ? html`<p>${t('coupons.none_mine')}</p>` : null}
      <ul class="cards">${mine?.ok ? mine.data.items.map((coupon) => html`<${MyCoupon} key=${coupon.id} coupon=${coupon} />`) : null}</ul>
    </section>
  <//>`;
}
