// The shared conformance vectors (tests/vectors/signatures.json), run the
// same way in Node and in the browser. No IO here: callers load the file.

export function bodyBytes(c) {
  if (c.body_base64 !== undefined) {
    return Uint8Array.from(atob(c.body_base64), (ch) => ch.charCodeAt(0));
  }
  return new TextEncoder().encode(c.body);
}

export function expected(c) {
  return c.expect.ok
    ? { ok: true, subscription: c.expect.subscription }
    : { ok: false, error: c.expect.error };
}

/** What the package says for one case, given a payload and a headers form. */
export function outcome(Webhook, c, payload, headers) {
  let wh;
  try {
    wh = new Webhook(c.secret);
  } catch (e) {
    return { ok: false, error: e.code ?? `${e.name}: ${e.message}` };
  }
  try {
    const event = wh.verifyAt(payload, headers, c.now);
    return { ok: true, subscription: event.subscription };
  } catch (e) {
    return { ok: false, error: e.code ?? `${e.name}: ${e.message}` };
  } finally {
    wh.free();
  }
}

/** Every way a receiver may hand us the same delivery. */
export function variants(c) {
  const forms = [
    ["bytes + object", bodyBytes(c), c.headers],
    ["bytes + Headers", bodyBytes(c), new Headers(c.headers)],
  ];
  if (c.body !== undefined) forms.push(["string + object", c.body, c.headers]);
  return forms;
}

/** Mismatches, as readable lines; empty when every case and form agrees. */
export function runAll(Webhook, cases) {
  const failures = [];
  for (const c of cases) {
    for (const [form, payload, headers] of variants(c)) {
      const got = outcome(Webhook, c, payload, headers);
      const want = expected(c);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        failures.push(`${c.name} [${form}]: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
    }
  }
  return failures;
}
