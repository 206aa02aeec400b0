// The console's credential. Selki's app opens the console with a link
// whose fragment carries a console session (`#token=…&session=…`): a
// fragment never reaches a server or a log. The console keeps it in this
// tab's sessionStorage only, and takes it out of the address bar at once.
// An operator may instead paste an API key on the sign-in screen.

export interface Session {
  token: string;
  /** The session's id (`key_…`): what signing out revokes. */
  id?: string;
  /** Organization to act for: needed with an admin key only. */
  organization?: string;
  /** The link says the session is read-only: the console hides what it
   *  could not do (the server refuses it anyway). */
  readOnly: boolean;
  expires?: Date;
}

const KEY = "selki-console-session";

export function takeFromLink(): void {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("token");
  if (!token) return;
  const expires = fragment.get("expires");
  save({
    token,
    id: fragment.get("session") ?? undefined,
    organization: fragment.get("organization") ?? undefined,
    readOnly: fragment.get("read_only") === "1",
    // Unix seconds (the CLI's links) or RFC 3339.
    expires: expires ? new Date(/^\d+$/.test(expires) ? Number(expires) * 1000 : expires) : undefined,
  });
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
}

export function load(): Session | undefined {
  const text = sessionStorage.getItem(KEY);
  if (!text) return undefined;
  const s = JSON.parse(text) as Session & { expires?: string };
  return { ...s, expires: s.expires ? new Date(s.expires) : undefined };
}

export function save(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function forget(): void {
  sessionStorage.removeItem(KEY);
}
