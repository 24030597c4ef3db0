// Pieces every page uses: a page with its heading, labelled fields, the API's refusals in words.
import { html } from 'htm/preact';
import { cloneElement, toChildArray } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';

import { newIdempotencyKey } from './api.js';
import { useApp } from './context.js';

/** A page: its title is the document's and its heading takes the focus, so a screen reader
 * announces where a tap led. */
export function Page({ title, children, className = '' }) {
  const { t } = useApp();
  const heading = useRef(null);
  useEffect(() => {
    document.title = `${title} · ${t('app.name')}`;
    heading.current?.focus({ preventScroll: true });
  }, [title]);
  return html`<section class=${`page ${className}`} aria-labelledby="page-title">
    <h1 id="page-title" tabindex="-1" ref=${heading}>${title}</h1>
    ${children}
  </section>`;
}

/** A control inside its label (so every control is named by it alone), with an optional hint
 * below that the control points to as its description. */
export function Field({ label, hint, children }) {
  const hintId = useId();
  const control = toChildArray(children).map((child) => (hint && typeof child === 'object'
    ? cloneElement(child, { 'aria-describedby': hintId }) : child));
  return html`<div class="field">
    <label><span class="label">${label}</span>${control}</label>
    ${hint ? html`<span class="hint" id=${hintId}>${hint}</span>` : null}
  </div>`;
}

function fieldName(t, path) {
  const field = path.split('.').pop();
  return t.has(`field.${field}`) ? t(`field.${field}`) : field === '_schema' ? '' : field;
}

/** What the API refused, in its own words: the problem's title and detail, and each field's messages. */
export function ProblemNote({ result }) {
  const { t } = useApp();
  if (!result || result.ok) return null;
  if (result.offline) return html`<p class="problem" role="alert">${t('offline.action')}</p>`;
  const problem = result.problem || {};
  const lines = Object.entries(problem.errors || {}).flatMap(
    ([path, messages]) => [].concat(messages).map((message) => [path, message]));
  return html`<div class="problem" role="alert">
    <p><strong>${problem.title || t('problem.unknown')}</strong>
      ${problem.detail && problem.detail !== problem.title ? html`<br />${problem.detail}` : null}</p>
    ${lines.length ? html`<ul>${lines.map(([path, message]) => html`<li>
      ${fieldName(t, path) ? html`<span class="field-name">${fieldName(t, path)}：</span>` : null}${message}</li>`)}</ul>` : null}
  </div>`;
}

/** Label–value pairs; each pair wraps onto two lines rather than squeezing at large text. */
export function Facts({ rows, id }) {
  return html`<dl class="facts" id=${id}>${rows.filter(Boolean).map(([label, value]) => html`<div>
    <dt>${label}</dt><dd>${value}</dd></div>`)}</dl>`;
}

export function Notice({ kind = 'ok', children }) {
  return html`<div class=${`notice ${kind}`} role="status">${children}</div>`;
}

/** A submit button that says it is busy and cannot be pressed twice meanwhile. */
export function Submit({ busy, children, className = 'primary' }) {
  return html`<button type="submit" class=${className} disabled=${busy} aria-busy=${busy ? 'true' : 'false'}>${children}</button>`;
}

/** The state of a form that moves credits: its Idempotency-Key survives a failed network call
 * (a retry replays, never repeats) and is renewed once the server has answered. */
export function useCreditForm(post) {
  const [key, setKey] = useState(newIdempotencyKey);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    const answered = await post(key, new FormData(event.currentTarget));
    if (!answered.offline) setKey(newIdempotencyKey());
    setResult(answered);
    setBusy(false);
  };
  return { busy, result, submit };
}

/** A list of serial ranges: long, so they break anywhere rather than widen a 320 px screen. */
export function Serials({ serials }) {
  const { t } = useApp();
  if (!serials?.length) return null;
  return html`<details class="serials"><summary>${t('serials.title', { count: serials.length })}</summary>
    <ul>${serials.map((serial) => html`<li><code>${serial}</code></li>`)}</ul></details>`;
}

/** An image the API serves only to a signed-in resident: fetched with the token, shown as a blob. */
export function useBlobUrl(blob) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    if (!blob) return undefined;
    const made = URL.createObjectURL(blob);
    setUrl(made);
    return () => URL.revokeObjectURL(made);
  }, [blob]);
  return url;
}
