// The console in headless Chromium against a real selki-server: the
// whole life of a webhook through its screens with a console session, and
// what a read-only, an expired or another organization's session cannot
// do. Each screen is checked with axe and photographed.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { before, test } from "node:test";

import { Webhook as Verifier } from "standardwebhooks";

import { ADMIN_KEY, browser, link, newPage, receiver, screen, selkiServer, typedClient } from "./harness.mjs";

let client;
const CLICKED = 3;
const NEW_THREAT = 6;

before(async () => {
  client = await typedClient();
});

const clicked = (organizationId) => ({
  event: { organizationId, data: { data: { case: "phishingEmailClicked", value: { campaignId: "phish123", email: "staff@company.com" } } } },
});

test("a console session creates, watches, debugs, changes and deletes a webhook through the screens", async (t) => {
  const api = await selkiServer(t);
  const admin = client(api, ADMIN_KEY);
  const hook = await receiver(t);
  const chrome = await browser(t);
  const session = await admin.keys.createConsoleSession({ organizationId: "acme", name: "Jane at Acme" });
  const page = await newPage(chrome);

  // The link's token is taken out of the address bar at once.
  await page.goto(link(api, session));
  await page.getByRole("heading", { name: "Webhooks" }).waitFor();
  assert.ok(!page.url().includes("token"), page.url());
  await page.getByText("No webhooks yet").waitFor();
  await screen(page, "01-webhooks-empty");
  // The skip link moves the keyboard past the header, route unchanged.
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
  assert.ok(page.url().endsWith("#/"), page.url());

  // The wizard, by keyboard for its first step; a refused field is shown
  // in place, next to the field, on the step that holds it.
  await page.getByRole("link", { name: "Create New Webhook" }).focus();
  await page.keyboard.press("Enter");
  await page.getByLabel("Webhook Name").fill("Notify SOC on clicks");
  await page.getByLabel("Webhook Name").press("Tab");
  await page.keyboard.type("ftp://127.0.0.1/selki");
  await page.keyboard.press("Enter");
  await page.getByText("Step 2 of 5: Events").waitFor();
  await page.getByLabel(/^Email Clicked/).check();
  await page.getByLabel(/^New Threat/).check();
  await screen(page, "02-wizard-events");
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByText("Step 3 of 5: Destination").waitFor();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("Retry Attempts").fill("2");
  await page.getByLabel("Retry Delay (seconds)").fill("1");
  await page.getByRole("button", { name: "Add a header" }).click();
  await page.getByLabel("Header 1 name").fill("Authorization");
  await page.getByLabel("Header 1 value").fill("Bearer soc-token-123");
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("button", { name: "Create webhook" }).click();
  await page.getByText("Step 1 of 5: Basics").waitFor();
  const url = page.getByLabel("Endpoint URL");
  assert.equal(await url.getAttribute("aria-invalid"), "true");
  const said = await page.locator('[data-field="url"] .error').textContent();
  assert.match(said, /http/i, said);
  await screen(page, "03-wizard-refused-url");
  assert.equal((await admin.webhooks.listWebhooks({ organizationId: "acme" })).webhooks.length, 0, "nothing half-made");

  await url.fill(hook.url);
  for (const step of ["Events", "Destination", "Advanced Settings", "Review"]) {
    await page.getByRole("button", { name: "Next" }).click();
    await page.getByText(new RegExp(`Step \\d of 5: ${step}`)).waitFor();
  }
  await page.getByRole("button", { name: "Create webhook" }).click();
  await page.getByRole("heading", { name: "Webhook created: Notify SOC on clicks" }).waitFor();
  const secret = await page.getByLabel("Signing secret").inputValue();
  assert.match(secret, /^whsec_/);
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.getByText(/Success \(HTTP 200\)/).waitFor();
  await screen(page, "04-wizard-created-and-tested");
  const [test] = await hook.until(1);
  new Verifier(secret).verify(test.body, test.headers); // signed with the secret shown
  assert.equal(test.headers.authorization, "Bearer soc-token-123");

  // Overview: what is configured, sensitive header masked.
  await page.getByRole("button", { name: "Finish" }).click();
  await page.getByRole("heading", { name: "Webhook Overview" }).waitFor();
  const { webhooks } = await admin.webhooks.listWebhooks({ organizationId: "acme" });
  const id = webhooks[0].id;
  await page.getByText("Email Clicked, New Threat").waitFor();
  await page.getByText("authorization: ****").waitFor();
  await page.getByText(/Signed with HMAC SHA256/).waitFor();
  assert.ok(!(await page.content()).includes("soc-token-123"), "a sensitive header value is never shown");
  await screen(page, "05-overview");

  // Recent Calls: a new event's call appears live, without a reload.
  await page.getByRole("link", { name: "Recent Calls" }).click();
  await page.getByText("Live: new calls appear as they are made.").waitFor();
  await page.locator("tbody tr").first().waitFor(); // the test call
  assert.equal(await page.locator("tbody tr").count(), 1);
  const { event: accepted } = await admin.events.submitEvent(clicked("acme"));
  await page.locator("tbody tr", { hasText: "Automatic" }).waitFor();
  await screen(page, "06-recent-calls-live");
  await hook.until(2);

  // A call's detail: the request as sent, the answer; then a redelivery.
  await page.locator("tbody tr", { hasText: "Automatic" }).getByRole("link").click();
  await page.getByRole("heading", { name: "Request as sent" }).waitFor();
  await page.getByRole("definition").filter({ hasText: accepted.eventId }).waitFor();
  const request = await page.locator("pre.code").first().textContent();
  assert.match(request, /"campaignId": "phish123"/);
  await page.getByRole("rowheader", { name: "selki-signature" }).waitFor();
  await screen(page, "07-call-detail");
  await page.getByRole("button", { name: "Redeliver" }).click();
  await page.getByText(/Redelivered: Success \(HTTP 200\)/).waitFor();
  const calls = await hook.until(3);
  assert.equal(calls[2].headers["selki-event-id"], accepted.eventId, "the same event, again");

  // Replay: every event of the window is sent again.
  await page.getByRole("link", { name: "← Recent Calls" }).click();
  await page.getByText("Send deliveries again").click();
  await page.getByLabel("Events accepted in the").selectOption({ label: "last hour" });
  await page.getByRole("button", { name: "Replay all events" }).click();
  await page.getByText("1 event queued to be sent again.").waitFor();
  const replayed = await hook.until(4);
  assert.equal(replayed[3].headers["selki-event-id"], accepted.eventId);
  await page.locator("tbody tr", { hasText: "Replay" }).waitFor();

  // Settings: the retry policy, the secret, disable and enable.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Webhook settings" }).waitFor();
  await page.getByLabel("Retry Attempts").fill("7");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("Saved.").waitFor();
  const saved = (await admin.webhooks.getWebhook({ id })).webhook;
  assert.equal(saved.retryPolicy.attempts, 7);
  assert.deepEqual(saved.headers.map((h) => [h.name, h.value]), [["authorization", "****"]], "the stored value is kept");
  await page.getByRole("button", { name: "Rotate secret" }).click();
  const rotated = await page.getByLabel("New signing secret").inputValue();
  assert.match(rotated, /^whsec_/);
  assert.notEqual(rotated, secret);
  assert.ok((await admin.webhooks.getWebhook({ id })).webhook.previousSecretExpireTime, "the old secret signs for a grace period");
  await page.getByRole("button", { name: "Disable webhook" }).click();
  await page.getByRole("button", { name: "Enable webhook" }).waitFor();
  assert.equal((await admin.webhooks.getWebhook({ id })).webhook.enabled, false);
  await screen(page, "08-settings");
  await page.getByRole("button", { name: "Enable webhook" }).click();
  await page.getByRole("button", { name: "Disable webhook" }).waitFor();
  assert.equal((await admin.webhooks.getWebhook({ id })).webhook.enabled, true);

  // Documentation: this webhook's headers and payloads.
  await page.getByRole("navigation", { name: "Webhook" }).getByRole("link", { name: "Documentation" }).click();
  await page.getByRole("heading", { name: "Webhook Documentation" }).waitFor();
  await page.getByText(`selki-webhook-id: ${id}`).waitFor();
  await screen(page, "09-documentation");

  // The list with health, at a phone's width too.
  await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Webhooks" }).click();
  await page.getByRole("link", { name: "Notify SOC on clicks" }).waitFor();
  await screen(page, "10-webhooks");
  const phone = await newPage(chrome, { width: 360, height: 740 });
  await phone.goto(link(api, session));
  await phone.getByRole("link", { name: "Notify SOC on clicks" }).click();
  await phone.getByRole("heading", { name: "Webhook Overview" }).waitFor();
  await phone.getByRole("img", { name: /Calls per/ }).waitFor();
  await screen(phone, "11-overview-360px");

  // Danger Zone: deleting needs the name typed.
  await page.getByRole("link", { name: "Notify SOC on clicks" }).click();
  await page.getByRole("link", { name: "Settings" }).click();
  const remove = page.getByRole("button", { name: "Delete webhook" });
  assert.equal(await remove.isDisabled(), true);
  await page.getByLabel('Type "Notify SOC on clicks" to confirm').fill("Notify SOC on clicks");
  await remove.click();
  await page.getByText("No webhooks yet").waitFor();
  await assert.rejects(admin.webhooks.getWebhook({ id }), /not found/i);

  // Signing out revokes the session: its link is worthless afterwards.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  await assert.rejects(client(api, session.token).webhooks.listWebhooks({}), /unauthenticated|revoked|not valid/i);
});

test("a read-only session changes nothing, an expired one is refused, another organization's webhook is out of reach", async (t) => {
  const api = await selkiServer(t);
  const admin = client(api, ADMIN_KEY);
  const hook = await receiver(t);
  const chrome = await browser(t);
  const create = (organizationId, name) =>
    admin.webhooks.createWebhook({ organizationId, name, url: hook.url, eventTypes: [CLICKED, NEW_THREAT] }).then((r) => r.webhook);
  const ours = await create("acme", "Acme SIEM");
  const theirs = await create("globex", "Globex secret hook");

  // Read-only, as the link says: nothing to change is offered.
  const reader = await admin.keys.createConsoleSession({ organizationId: "acme", readOnly: true });
  const page = await newPage(chrome);
  await page.goto(link(api, reader, "&read_only=1"));
  await page.getByRole("link", { name: "Acme SIEM" }).waitFor();
  await page.getByText("Read-only", { exact: true }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Create New Webhook" }).count(), 0);
  await screen(page, "12-read-only");
  await page.goto(`${api}/console/#/webhooks/${ours.id}/settings`);
  await page.getByRole("heading", { name: "Danger Zone" }).waitFor();
  for (const name of ["Save changes", "Rotate secret", "Disable webhook", "Delete webhook"]) {
    assert.equal(await page.getByRole("button", { name }).count(), 0, name);
  }
  assert.equal(await page.getByLabel("Webhook Name").isDisabled(), true);

  // Read-only without the hint: the console offers, the server refuses,
  // the page says why, and nothing changed.
  const unhinted = await newPage(chrome);
  await unhinted.goto(link(api, reader));
  await unhinted.getByRole("link", { name: "Acme SIEM" }).click();
  await unhinted.getByRole("link", { name: "Settings" }).click();
  await unhinted.getByRole("button", { name: "Disable webhook" }).click();
  await unhinted.getByText(/may not do that/).waitFor();
  assert.equal((await admin.webhooks.getWebhook({ id: ours.id })).webhook.enabled, true);

  // Another organization's webhook, by id: not found, nothing of it shown.
  await unhinted.goto(`${api}/console/#/webhooks/${theirs.id}`);
  await unhinted.getByRole("alert").waitFor();
  assert.match(await unhinted.getByRole("alert").first().textContent(), /not found/i);
  assert.ok(!(await unhinted.content()).includes("Globex secret hook"));

  // An expired session: refused, and the page says so.
  const brief = await admin.keys.createConsoleSession({ organizationId: "acme", lifetime: { seconds: 1n, nanos: 0 } });
  const briefClient = client(api, brief.token);
  // Its end, as the server sees it: refused once past expire_time.
  for (;;) {
    try {
      await briefClient.webhooks.listWebhooks({});
      await new Promise((resolve) => setTimeout(resolve, 100));
    } catch (err) {
      assert.match(String(err), /unauthenticated|expired/i);
      break;
    }
  }
  const late = await newPage(chrome);
  await late.goto(link(api, brief));
  await late.getByText(/Your session has ended/).waitFor();
  assert.equal(await late.getByRole("link", { name: "Acme SIEM" }).count(), 0);
  await screen(late, "13-session-ended");
});

test("only the origins --console-frame-ancestors names may frame the console", async (t) => {
  const embedding = async () => {
    const state = { src: "" };
    const server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><title>Your app</title><iframe title="Selki console" src="${state.src}" width="1000" height="600"></iframe>`);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    state.origin = `http://127.0.0.1:${server.address().port}`;
    return state;
  };
  const app = await embedding();
  const stranger = await embedding();
  const api = await selkiServer(t, ["--console-frame-ancestors", app.origin]);
  const admin = client(api, ADMIN_KEY);
  const chrome = await browser(t);
  const session = await admin.keys.createConsoleSession({ organizationId: "acme" });
  app.src = stranger.src = link(api, session);

  const framed = await newPage(chrome);
  await framed.goto(app.origin);
  await framed.frameLocator("iframe").getByRole("heading", { name: "Webhooks" }).waitFor();

  const refused = await newPage(chrome);
  // The browser replaces a refused frame with its error page.
  const blocked = refused.waitForEvent("framenavigated", (f) => f !== refused.mainFrame() && f.url().startsWith("chrome-error:"));
  await refused.goto(stranger.origin);
  await blocked;
  assert.equal(await refused.frameLocator("iframe").getByRole("heading", { name: "Webhooks" }).count(), 0);
});
