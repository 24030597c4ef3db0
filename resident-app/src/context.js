// What every page shares: the language and its dictionary, the session, whether we are online.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const AppContext = createContext(null);

export function useApp() {
  return useContext(AppContext);
}
