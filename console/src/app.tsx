// The console's frame: who is signed in, where in the console we are
// (the fragment: `#/webhooks/wh_…/calls`), and the screen for it.
import { createContext, type JSX } from "preact";
import { useContext, useEffect, useMemo, useState } from "preact/hooks";

import { type SelkiClient, selkiClient } from "./client";
import { CallDetail } from "./screens/call";
import { RecentCalls } from "./screens/calls";
import { Documentation } from "./screens/docs";
import { Overview } from "./screens/overview";
import { SettingsScreen } from "./screens/settings";
import { SignIn } from "./screens/signin";
import { WebhookList } from "./screens/list";
import { Wizard } from "./screens/wizard";
import { type Session, forget, load, takeFromLink } from "./session";
import { when } from "./time";

export interface Console {
  api: SelkiClient;
  session: Session;
  /** `organizationId` for requests: empty unless an admin key named one. */
  org: string;
  readOnly: boolean;
  signOut: () => void;
}

const ConsoleContext = createContext<Console | undefined>(undefined);

export function useConsole(): Console {
  const c = useContext(ConsoleContext);
  if (!c) throw new Error("useConsole outside the console");
  return c;
}

export function go(path: string): void {
  location.hash = `#${path}`;
}

function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export function App() {
  takeFromLink();
  const [session, setSession] = useState<Session | undefined>(load);
  const route = useRoute();
  const value = useMemo<Console | undefined>(() => {
    if (!session) return undefined;
    const api = selkiClient(location.origin, session.token);
    return {
      api,
      session,
      org: session.organization ?? "",
      readOnly: session.readOnly,
      signOut: () => {
        // A session revokes itself: its link is then worthless.
        const revoked = session.id ? api.keys.revokeApiKey({ id: session.id }).catch(() => undefined) : Promise.resolve();
        revoked.finally(() => {
          forget();
          setSession(undefined);
          go("/");
        });
      },
    };
  }, [session]);
  if (!value) return <SignIn onSignedIn={setSession} />;
  return (
    <ConsoleContext.Provider value={value}>
      <Header />
      <main id="main" tabIndex={-1}>
        {screen(route)}
      </main>
    </ConsoleContext.Provider>
  );
}

function screen(route: string[]): JSX.Element {
  const [first, id, tab, callId] = route;
  if (first === "new") return <Wizard />;
  if (first === "docs") return <Documentation />;
  if (first === "webhooks" && id) {
    if (tab === "calls" && callId) return <CallDetail webhookId={id} callId={callId} />;
    if (tab === "calls") return <RecentCalls webhookId={id} />;
    if (tab === "docs") return <Documentation webhookId={id} />;
    if (tab === "settings") return <SettingsScreen webhookId={id} />;
    return <Overview webhookId={id} />;
  }
  return <WebhookList />;
}

function Header() {
  const { session, readOnly, signOut } = useConsole();
  return (
    <header class="top">
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <a class="brand" href="#/">
        Selki Webhooks
      </a>
      <nav aria-label="Console">
        <a href="#/">Webhooks</a>
        <a href="#/docs">Documentation</a>
      </nav>
      <div class="who">
        {readOnly && <span class="badge">Read-only</span>}
        {session.organization && <span>{session.organization}</span>}
        {session.expires && <span>Session ends {when(session.expires)}</span>}
        <button type="button" class="link" onClick={signOut}>
          Sign out
        </button>
      </div>
    </header>
  );
}

/** The tabs of one webhook's screens. */
export function WebhookTabs(props: { id: string; name?: string; current: "overview" | "calls" | "docs" | "settings" }) {
  const tabs = [
    ["overview", "Overview", ""],
    ["calls", "Recent Calls", "/calls"],
    ["docs", "Documentation", "/docs"],
    ["settings", "Settings", "/settings"],
  ] as const;
  return (
    <div class="webhook-head">
      <p class="crumbs">
        <a href="#/">Webhooks</a> / <span>{props.name ?? props.id}</span>
      </p>
      <nav class="tabs" aria-label="Webhook">
        {tabs.map(([key, label, path]) => (
          <a key={key} href={`#/webhooks/${props.id}${path}`} aria-current={props.current === key ? "page" : undefined}>
            {label}
          </a>
        ))}
      </nav>
    </div>
  );
}
