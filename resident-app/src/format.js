// Numbers and times as a resident reads them: credits in kg (the API counts whole grams), money in
// yuan (the API counts fen), times on Binzhou's clock (Asia/Shanghai), whatever the phone says.

export const ZONE = 'Asia/Shanghai';
export const DAY_MS = 24 * 60 * 60 * 1000;

const locale = (lang) => (lang === 'en' ? 'en-GB' : 'zh-CN');

export function kg(grams, lang) {
  const number = new Intl.NumberFormat(locale(lang), { maximumFractionDigits: 3 }).format((grams || 0) / 1000);
  return `${number} kg`;
}

export function grams(value, lang) {
  return `${new Intl.NumberFormat(locale(lang)).format(value || 0)} g`;
}

export function yuan(fen) {
  return `¥${(fen / 100).toFixed(2)}`;
}

export function when(iso, lang) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(locale(lang), {
    timeZone: ZONE, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(new Date(iso));
}

/** The Asia/Shanghai calendar day of a moment, as YYYY-MM-DD. */
export function shanghaiDay(moment) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(new Date(moment));
}

/** The value a datetime-local input shows for a moment, on the phone's own clock. */
export function localInputValue(moment) {
  const date = new Date(moment);
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

/** A datetime-local input's value (the phone's own clock) as an ISO 8601 instant for the API. */
export function fromLocalInput(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
