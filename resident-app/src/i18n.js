// The app's own words in Chinese (the default) and English; what the API says (problem titles and
// details, field errors, reason texts) comes in the language we ask for with Accept-Language.
import { en } from './i18n/en.js';
import { zh } from './i18n/zh.js';

export const DICTIONARIES = { 'zh-CN': zh, en };
const STORED = 'binzhou-app-language'; // the language only: never a token

export function initialLanguage() {
  const chosen = window.localStorage.getItem(STORED);
  return chosen in DICTIONARIES ? chosen : 'zh-CN';
}

export function rememberLanguage(tag) {
  window.localStorage.setItem(STORED, tag);
}

/** t(key, {name: value}) in `lang`; a missing key falls back to Chinese, then to the key itself. */
export function translator(lang) {
  const dictionary = DICTIONARIES[lang] || zh;
  const t = (key, params = {}) => {
    const text = dictionary[key] ?? zh[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? params[name] : `{${name}}`));
  };
  t.has = (key) => key in dictionary;
  return t;
}
