// One coupon's QR, full screen for the till's scanner: black on white, as large as the screen
// allows, the screen kept awake, and a fresh code fetched well before the old one expires.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { request } from '../api.js';
import { ProblemNote, useBlobUrl } from '../components.js';
import { useApp } from '../context.js';
import { when, yuan } from '../format.js';
import { href } from '../router.js';

// The QR's signed token is valid for 15 minutes (merchants/qr_tokens.py): renew at 10, leaving
// room for a phone whose clock or network is slow.
export const RENEW_MS = 10 * 60 * 1000;

/** Keep the screen on while the code is shown, where the browser allows it (it may refuse). */
function useWakeLock() {
  useEffect(() => {
    let lock = null;
    navigator.wakeLock?.request('screen').then((held) => { lock = held; }).catch(() => {});
    return () => lock?.release().catch(() => {});
  }, []);
}

export function CouponCode({ couponId }) {
  const { t, lang } = useApp();
  const [coupon, setCoupon] = useState(null);
  const [image, setImage] = useState(null);
  const [renewedAt, setRenewedAt] = useState(null);
  const close = useRef(null);
  const src = useBlobUrl(image?.ok ? image.data : null);
  useWakeLock();

  useEffect(() => {
    let timer = null;
    let fetchedAt = 0;
    const renew = async () => {
      clearTimeout(timer);
      fetchedAt = Date.now();
      const drawn = await request('GET', `/me/coupons/${encodeURIComponent(couponId)}/qr.svg`, { as: 'blob' });
      setImage(drawn);
      if (drawn.ok) setRenewedAt(new Date(fetchedAt).toISOString());
      timer = setTimeout(renew, RENEW_MS);
    };
    // A phone that slept past the renewal (timers pause in the background) renews on waking.
    const onVisible = () => {
      if (document.visibilityState === 'visible' && fetchedAt && Date.now() - fetchedAt >= RENEW_MS) renew();
    };
    request('GET', `/me/coupons/${encodeURIComponent(couponId)}`).then((found) => {
      setCoupon(found);
      if (found.ok && found.data.status === 'claimed') renew();
    });
    document.addEventListener('visibilitychange', onVisible);
    close.current?.focus();
    return () => {
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [couponId]);

  const details = coupon?.ok ? coupon.data : null;
  return html`<section class="code-screen" role="dialog" aria-modal="true" aria-labelledby="code-title">
    <h1 id="code-title">${details ? details.title : t('code.title')}</h1>
    ${details ? html`<p class="meta">${details.merchant_name} · ${yuan(details.face_value_fen)}</p>` : null}
    <${ProblemNote} result=${coupon?.ok ? (image?.ok ? null : image) : coupon} />
    ${details && details.status !== 'claimed' ? html`<p class="notice warn">${t(`coupon.${details.status}`)}</p>` : null}
    ${src ? html`<img class="qr" id="coupon-qr" src=${src} alt=${t('code.alt', { title: details?.title || '' })} />` : null}
    ${src ? html`<p class="meta" role="status">${t('code.renewed', { time: when(renewedAt, lang) })}</p>` : null}
    <p class="explain">${t('code.explain')}</p>
    <a class="button" href=${href('coupons')} ref=${close}>${t('code.close')}</a>
  </section>`;
}
