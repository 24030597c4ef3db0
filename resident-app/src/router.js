// Hash routes (#/coupons/12): every page lives in the one shell the service worker keeps, so a
// route needs nothing from the server and opens offline.
import { useEffect, useState } from 'preact/hooks';

const current = () => window.location.hash.replace(/^#\/?/, '');

export function useRoute() {
  const [route, setRoute] = useState(current());
  useEffect(() => {
    const follow = () => setRoute(current());
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  return route;
}

export const href = (path) => `#/${path}`;

export function go(path) {
  window.location.hash = href(path);
}
