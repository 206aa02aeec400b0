// Without a console link: an operator pastes an API key (an admin key
// names the organization it acts for). It is checked with one call before
// it is kept, in this tab only.
import { useState } from "preact/hooks";

import { selkiClient } from "../client";
import { type Problem, problem } from "../errors";
import { type Session, save } from "../session";
import { Notice, TextField } from "../ui";

export function SignIn(props: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState("");
  const [organization, setOrganization] = useState("");
  const [trouble, setTrouble] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const session: Session = { token: token.trim(), organization: organization.trim() || undefined, readOnly: false };
    try {
      await selkiClient(location.origin, session.token).webhooks.listWebhooks({ organizationId: session.organization ?? "", pageSize: 1 });
      save(session);
      props.onSignedIn(session);
    } catch (err) {
      setTrouble(problem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Selki Webhooks console</h1>
      <p>Open the console from Selki with your console link, or sign in with an API key.</p>
      <form onSubmit={submit}>
        <Notice problem={trouble} />
        <TextField label="API key or console token" type="password" value={token} onInput={setToken} autocomplete="off" errors={trouble?.fields} field="token" />
        <TextField label="Organization (admin keys only)" value={organization} onInput={setOrganization} errors={trouble?.fields} field="organization_id" />
        <button type="submit" class="primary" disabled={busy || !token.trim()}>
          Sign in
        </button>
      </form>
    </main>
  );
}
