#!/usr/bin/env python3
"""Writes signatures.json: the language-neutral conformance vectors.

Every expected signature here is computed by Python's own hmac, hashlib and
base64 modules, never by the code under test. Regenerate with:

    python3 tests/vectors/generate.py > tests/vectors/signatures.json
"""
import base64
import hashlib
import hmac
import json

SW1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # published Standard Webhooks vector
SW2 = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"  # published Standard Webhooks vector
SELKI = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD = "whsec_" + base64.b64encode(bytes(range(100, 124))).decode()
NEW = "whsec_" + base64.b64encode(bytes(range(200, 248))).decode()

TS = 1754560902  # 2025-08-07T10:01:42Z
EVT = "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST"
WH = "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H"
CALL = "call_01K1ZQ7W9D3F5H7K9M1P3R5T7V"


def sign(secret, msg_id, ts, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def selki_body(subscription, data, timestamp="2025-08-07T10:01:42Z"):
    return json.dumps(
        {"timestamp": timestamp, "subscription": subscription, "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def std_headers(msg_id, ts, signature):
    h = {"webhook-id": msg_id, "webhook-timestamp": str(ts)}
    if signature is not None:
        h["webhook-signature"] = signature
    return h


def case(name, body, expect, secret=SELKI, msg_id=EVT, ts=TS, now=None,
         headers=None, signature=None):
    good = sign(secret, msg_id, ts, body)
    if headers is None:
        headers = std_headers(msg_id, ts, good if signature is None else signature)
    out = {"name": name, "secret": secret, "headers": headers}
    try:
        out["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        out["body_base64"] = base64.b64encode(body).decode()
    out["now"] = ts if now is None else now
    out["expect"] = expect
    out["sign"] = {"id": msg_id, "timestamp": ts, "signature": good}
    return out


def ok(subscription):
    return {"ok": True, "subscription": subscription}


def err(code):
    return {"ok": False, "error": code}


CLICK = selki_body("PHISHING_EMAIL_CLICKED", {"campaignId": "abc123", "email": "user@example.com"})
THREAT = {"id": "threat123", "category": "EMPLOYEES", "riskLevel": "CRITICAL",
          "url": "http://leakeddomain.com", "username": "jdoe", "email": "jdoe@company.com"}

cases = []

# The two published Standard Webhooks v1 vectors: the signature must match
# exactly; their bodies are not Selki events, so verification ends in
# INVALID_EVENT, which is only reached after the signature has passed.
sw1_body = b'{"test": 2432232314}'
assert sign(SW1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, sw1_body) == \
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
cases.append(case("standard webhooks published vector 1", sw1_body, err("INVALID_EVENT"),
                  secret=SW1, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", ts=1614265330))
sw2_body = b'{"email":"test@example.com","username":"test_user"}'
assert sign(SW2, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, sw2_body) == \
    "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
cases.append(case("standard webhooks published vector 2", sw2_body, err("INVALID_EVENT"),
                  secret=SW2, msg_id="msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", ts=1649367553))

# Every event type.
for sub in ["PHISHING_EMAIL_SENT", "PHISHING_EMAIL_OPENED", "PHISHING_EMAIL_CLICKED",
            "PHISHING_EMAIL_REPORTED"]:
    cases.append(case(f"{sub} verifies and parses",
                      selki_body(sub, {"campaignId": "phish123", "email": "staff@company.com"}),
                      ok(sub)))
cases.append(case("PHISHING_EMAIL_ERROR verifies and parses",
                  selki_body("PHISHING_EMAIL_ERROR", {"campaignId": "phish123",
                             "email": "staff@company.com", "error": "mailbox full"}),
                  ok("PHISHING_EMAIL_ERROR")))
cases.append(case("THREATS_NEW_THREAT verifies and parses",
                  selki_body("THREATS_NEW_THREAT", THREAT), ok("THREATS_NEW_THREAT")))
for level in ["LOW", "MEDIUM", "HIGH"]:
    cases.append(case(f"THREATS_NEW_THREAT with risk level {level}",
                      selki_body("THREATS_NEW_THREAT", {**THREAT, "riskLevel": level}),
                      ok("THREATS_NEW_THREAT")))
# Operational events: Selki emits them about the organization's webhooks.
OPERATIONAL = {
    "WEBHOOK_DISABLED": {"webhookId": WH, "webhookName": "Notify Slack on Clicks",
                         "url": "https://hooks.slack.com/services/T0/B0/x", "reason": "BY_PERSON",
                         "disabledBy": "ops key", "message": "disabled by ops key"},
    "WEBHOOK_FAILING": {"webhookId": WH, "webhookName": "SIEM", "url": "https://siem.example.com/in",
                        "consecutiveFailures": 10, "failingSince": "2025-08-07T09:01:42Z",
                        "lastOutcome": "http_status", "lastHttpStatus": 503},
    "WEBHOOK_RECOVERED": {"webhookId": WH, "webhookName": "SIEM",
                          "url": "https://siem.example.com/in", "failedCalls": 12,
                          "failingSince": "2025-08-07T09:01:42Z"},
    "DELIVERY_EXHAUSTED": {"webhookId": WH, "webhookName": "SIEM",
                           "url": "https://siem.example.com/in", "eventId": EVT,
                           "deliveryId": "dlv_01K1ZQ7W5B8YV3J2M4N6P8R0SV",
                           "subscription": "THREATS_NEW_THREAT", "attempts": 6,
                           "lastOutcome": "timeout", "lastError": "no answer within 15 s"},
}
for sub, data in OPERATIONAL.items():
    cases.append(case(f"{sub} verifies and parses", selki_body(sub, data), ok(sub)))
cases.append(case("WEBHOOK_DISABLED by a reason this version does not know is kept",
                  selki_body("WEBHOOK_DISABLED", {**OPERATIONAL["WEBHOOK_DISABLED"],
                                                  "reason": "BY_POLICY"}),
                  ok("WEBHOOK_DISABLED")))
cases.append(case("DELIVERY_EXHAUSTED without its event id is not an event",
                  selki_body("DELIVERY_EXHAUSTED",
                             {k: v for k, v in OPERATIONAL["DELIVERY_EXHAUSTED"].items()
                              if k != "eventId"}),
                  err("INVALID_EVENT")))
cases.append(case("a threat category this version does not know is kept",
                  selki_body("THREATS_NEW_THREAT", {**THREAT, "category": "VENDORS"}),
                  ok("THREATS_NEW_THREAT")))
cases.append(case("an unknown subscription parses as an unknown event",
                  selki_body("PHISHING_EMAIL_FORWARDED", {"campaignId": "x", "to": ["a@b.c"]}),
                  ok("PHISHING_EMAIL_FORWARDED")))
cases.append(case("extra fields in known data are ignored",
                  selki_body("PHISHING_EMAIL_OPENED", {"campaignId": "c", "email": "e@x.io",
                                                       "userAgent": "Mozilla"}),
                  ok("PHISHING_EMAIL_OPENED")))
cases.append(case("a timestamp with an offset and fractional seconds parses",
                  selki_body("PHISHING_EMAIL_SENT", {"campaignId": "c", "email": "e@x.io"},
                             timestamp="2025-08-07T12:01:42.123456+02:00"),
                  ok("PHISHING_EMAIL_SENT")))

# Header sets and name case.
good = sign(SELKI, EVT, TS, CLICK)
cases.append(case("the Selki-* header set alone verifies", CLICK, ok("PHISHING_EMAIL_CLICKED"),
                  headers={"Selki-Webhook-ID": WH, "Selki-Webhook-Call-ID": CALL,
                           "Selki-Event-ID": EVT, "Selki-Timestamp": str(TS),
                           "Selki-Signature": good}))
cases.append(case("header names match case-insensitively", CLICK, ok("PHISHING_EMAIL_CLICKED"),
                  headers={"WEBHOOK-ID": EVT, "Webhook-Timestamp": str(TS),
                           "webhook-SIGNATURE": good}))
cases.append(case("both header sets, as Selki sends them", CLICK, ok("PHISHING_EMAIL_CLICKED"),
                  headers={**std_headers(EVT, TS, good), "selki-webhook-id": WH,
                           "selki-webhook-call-id": CALL, "selki-event-id": EVT,
                           "selki-timestamp": str(TS), "selki-signature": good}))

# Signature lists and rotation.
bad32 = "v1," + base64.b64encode(bytes(32)).decode()
cases.append(case("a good signature among bad and unknown ones verifies", CLICK,
                  ok("PHISHING_EMAIL_CLICKED"),
                  signature=f"v2,abc {bad32} v1,!!! {good} v1a,xyz"))
rot = sign(OLD, EVT, TS, CLICK) + " " + sign(NEW, EVT, TS, CLICK)
cases.append(case("during rotation the old secret verifies", CLICK, ok("PHISHING_EMAIL_CLICKED"),
                  secret=OLD, signature=rot))
cases.append(case("during rotation the new secret verifies", CLICK, ok("PHISHING_EMAIL_CLICKED"),
                  secret=NEW, signature=rot))
cases.append(case("after rotation the old signature alone fails with the new secret", CLICK,
                  err("SIGNATURE_MISMATCH"), secret=NEW, signature=sign(OLD, EVT, TS, CLICK)))
cases.append(case("the wrong secret fails", CLICK, err("SIGNATURE_MISMATCH"),
                  signature=sign(SW1, EVT, TS, CLICK)))

# Tampering.
cases.append(case("a tampered body fails", CLICK.replace(b"abc123", b"abc124"),
                  err("SIGNATURE_MISMATCH"), signature=good))
cases.append(case("a tampered event id fails", CLICK, err("SIGNATURE_MISMATCH"),
                  headers=std_headers("evt_01K1ZQ7W5B8YV3J2M4N6P8R0SU", TS, good)))
cases.append(case("a tampered timestamp fails", CLICK, err("SIGNATURE_MISMATCH"),
                  now=TS + 1, headers=std_headers(EVT, TS + 1, good)))
cases.append(case("a re-serialised body fails", json.dumps(json.loads(CLICK)).encode(),
                  err("SIGNATURE_MISMATCH"), signature=good))

# Tolerance edges, both directions.
cases.append(case("exactly 300 s old is accepted", CLICK, ok("PHISHING_EMAIL_CLICKED"),
                  now=TS + 300))
cases.append(case("301 s old is refused", CLICK, err("TIMESTAMP_TOO_OLD"), now=TS + 301))
cases.append(case("exactly 300 s ahead is accepted", CLICK, ok("PHISHING_EMAIL_CLICKED"),
                  now=TS - 300))
cases.append(case("301 s ahead is refused", CLICK, err("TIMESTAMP_TOO_NEW"), now=TS - 301))

# Bodies.
cases.append(case("a multibyte UTF-8 body verifies",
                  selki_body("PHISHING_EMAIL_REPORTED", {"campaignId": "Kampagne-Grüße-日本",
                             "email": "jürgen@exämple.de"}),
                  ok("PHISHING_EMAIL_REPORTED")))
cases.append(case("an emoji body verifies",
                  selki_body("PHISHING_EMAIL_ERROR", {"campaignId": "🎣-2025",
                             "email": "a@b.io", "error": "bounced 📭 👩🏽‍💻"}),
                  ok("PHISHING_EMAIL_ERROR")))
cases.append(case("a body of invalid UTF-8 bytes is signed but not JSON",
                  b'{"timestamp":"2025-08-07T10:01:42Z","subscription":"\xff\xfe","data":{}}',
                  err("INVALID_JSON")))
cases.append(case("an empty body is refused", b"", err("EMPTY_BODY")))
cases.append(case("a signed body that is not JSON", b"campaignId=abc123", err("INVALID_JSON")))
cases.append(case("a signed JSON body without data is not an event",
                  b'{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_SENT"}',
                  err("INVALID_EVENT")))
cases.append(case("a known type missing a field is not an event",
                  selki_body("PHISHING_EMAIL_CLICKED", {"email": "user@example.com"}),
                  err("INVALID_EVENT")))
cases.append(case("an unknown risk level is not an event",
                  selki_body("THREATS_NEW_THREAT", {**THREAT, "riskLevel": "EXTREME"}),
                  err("INVALID_EVENT")))
cases.append(case("a timestamp that is not RFC 3339 is not an event",
                  selki_body("PHISHING_EMAIL_SENT", {"campaignId": "c", "email": "e@x.io"},
                             timestamp="07/08/2025 10:01"),
                  err("INVALID_EVENT")))

# Malformed signature entries.
cases.append(case("a bare v1, is an empty signature", CLICK, err("EMPTY_SIGNATURE"),
                  signature="v1,"))
cases.append(case("bad base64 in a v1 entry", CLICK, err("INVALID_SIGNATURE_ENCODING"),
                  signature="v1,not*base64!"))
cases.append(case("a v1 entry of the wrong length", CLICK, err("INVALID_SIGNATURE_LENGTH"),
                  signature="v1," + base64.b64encode(bytes(16)).decode()))
cases.append(case("only unknown signature versions", CLICK, err("NO_SUPPORTED_SIGNATURE"),
                  signature="v2," + good[3:] + " v1a," + good[3:]))
cases.append(case("a well-formed mismatch outranks a malformed entry", CLICK,
                  err("SIGNATURE_MISMATCH"), signature=f"v1,!!! {bad32}"))

# Missing or malformed headers.
cases.append(case("a missing signature header", CLICK, err("MISSING_HEADER"),
                  headers=std_headers(EVT, TS, None)))
cases.append(case("a missing timestamp header", CLICK, err("MISSING_HEADER"),
                  headers={"webhook-id": EVT, "webhook-signature": good}))
cases.append(case("no id header of either set", CLICK, err("MISSING_HEADER"),
                  headers={"webhook-timestamp": str(TS), "webhook-signature": good}))
for bad_ts in ["abc", "1754560902.5", "+1754560902", "", "99999999999999999999"]:
    cases.append(case(f"a timestamp of {bad_ts!r} is not a number of seconds", CLICK,
                      err("INVALID_TIMESTAMP"), headers=std_headers(EVT, bad_ts, good)))

# Secrets that are not `whsec_` + base64 of 24..=64 bytes.
for name, secret, code in [
    ("a secret without the whsec_ prefix", "my-super-secret-passphrase", "SECRET_MISSING_PREFIX"),
    ("a secret whose base64 is broken", "whsec_not base64!", "SECRET_INVALID_BASE64"),
    ("a secret of 16 bytes is too short",
     "whsec_" + base64.b64encode(bytes(16)).decode(), "SECRET_INVALID_LENGTH"),
    ("a secret of 65 bytes is too long",
     "whsec_" + base64.b64encode(bytes(65)).decode(), "SECRET_INVALID_LENGTH"),
]:
    cases.append({"name": name, "secret": secret, "headers": {}, "body": "", "now": TS,
                  "expect": err(code)})

print(json.dumps({"cases": cases}, indent=2, ensure_ascii=False))
