// What the forms that move credits share: the balance they draw on and the amount, in grams.
import { html } from 'htm/preact';

import { Field } from '../components.js';
import { useApp } from '../context.js';
import { grams, kg } from '../format.js';

export function Balance() {
  const { t, lang, session } = useApp();
  const balance = session.me?.account?.balance_g ?? 0;
  return html`<p class="balance-line">${t('credits.balance', { balance: kg(balance, lang), grams: grams(balance, lang) })}</p>`;
}

export function AmountField() {
  const { t } = useApp();
  return html`<${Field} label=${t('field.amount_g')} hint=${t('credits.amount.hint')}>
    <input name="amount_g" type="number" inputmode="numeric" min="1" step="1" required /><//>`;
}
