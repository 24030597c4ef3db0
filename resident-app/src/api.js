// The app's only door to the platform: the public JSON API under /api/v1.
//
// Tokens: the access token (15 minutes) lives in this module's memory and nowhere else; the
// refresh token is an httpOnly, SameSite=Strict cookie for /api/v1/auth that the server sets when
// sign-in asks with X-Refresh-Cookie: 1, so no script (ours or an injected one) can read it.
// A reload starts signed out in memory and asks /auth/refresh for a new access token.

const BASE = '/api/v1';
const COOKIE_MODE = { 'X-Refresh-Cookie': '1' };
// A 401 with these codes means the session is over (signed out elsewhere, account closed); any
// other 401 (a wrong password typed into a form) is the form's business.
const SESSION_OVER = new Set(['token_revoked', 'token_invalid']);

let accessToken = null;
let language = 'zh-CN';
let refreshing = null;
let whenSessionEnds = () => {};

/** Who to tell when the session ended under a page's feet (revoked, expired for good). */
export function onSessionEnd(listener) {
  whenSessionEnds = listener;
}

export function setLanguage(tag) {
  language = tag;
}

async function send(method, path, { body, headers = {}, auth = true } = {}) {
  const init = { method, credentials: 'same-origin', headers: { 'Accept-Language': language, ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (auth && accessToken) init.headers.Authorization = `Bearer ${accessToken}`;
  try {
    return await fetch(BASE + path, init);
  } catch {
    return null; // offline, or the server is out of reach
  }
}

// Every answer in one shape: { ok, status, data, problem, offline }. A refusal's problem is the
// API's problem+json: title, detail and `errors` (field path → messages in our language).
async function answer(response, as) {
  if (response === null) return { ok: false, status: 0, offline: true };
  const type = response.headers.get('Content-Type') || '';
  if (!response.ok) {
    const problem = type.includes('json') ? await response.json().catch(() => null) : null;
    return { ok: false, status: response.status, problem: problem || { title: response.statusText } };
  }
  if (as === 'blob') return { ok: true, status: response.status, data: await response.blob() };
  const text = await response.text(); // empty for a 204, whatever its Content-Type says
  return { ok: true, status: response.status, data: text && type.includes('json') ? JSON.parse(text) : null };
}

/** One API call; an expired access token is renewed once through the cookie and the call repeated;
 * a session that is over sends the app back to sign-in. */
export async function request(method, path, options = {}) {
  let response = await send(method, path, options);
  if (response && response.status === 401 && accessToken && options.auth !== false) {
    const problem = await response.clone().json().catch(() => ({}));
    if (problem.code === 'token_expired') {
      const renewed = await refresh();
      if (renewed === 'signed-in') response = await send(method, path, options);
      else if (renewed === 'signed-out') whenSessionEnds();
    } else if (SESSION_OVER.has(problem.code)) {
      accessToken = null;
      whenSessionEnds();
    }
  }
  return answer(response, options.as);
}

/** A new access token from the refresh cookie: 'signed-in', 'signed-out' or 'offline'. */
export function refresh() {
  refreshing ??= send('POST', '/auth/refresh', { headers: COOKIE_MODE, auth: false })
    .then(async (response) => {
      if (response === null) return 'offline';
      if (!response.ok) {
        accessToken = null;
        return 'signed-out';
      }
      accessToken = (await response.json()).access_token;
      return 'signed-in';
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

async function openSession(path, body) {
  const result = await answer(await send('POST', path, { body, headers: COOKIE_MODE, auth: false }));
  if (result.ok) accessToken = result.data.access_token;
  return result;
}

export const signIn = (phone, password) => openSession('/auth/login', { phone, password });
export const signUp = (fields) => openSession('/auth/register', fields);

/** Sign out here: the server ends the session and deletes the cookie; memory forgets the token. */
export async function signOut() {
  await request('POST', '/auth/logout');
  forgetSession();
}

export function forgetSession() {
  accessToken = null;
}

/** A fresh key for a POST that moves credits: the same key again replays, never repeats, it. */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Each page of a cursor-paginated list, newest first, until `enough(items)` or the end. */
export async function collect(path, enough, maxPages = 10) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const separator = path.includes('?') ? '&' : '?';
    const result = await request('GET', `${path}${separator}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (!result.ok) return result;
    items.push(...result.data.items);
    cursor = result.data.next_cursor;
    if (!cursor || enough(items)) break;
  }
  return { ok: true, data: items };
}
