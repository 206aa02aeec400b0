//! The `@selki/webhooks` npm package: a wasm-bindgen skin over
//! `selki-webhooks`. It only converts JavaScript values to Rust ones and
//! back; every rule of the wire format lives in the Rust crate.

use js_sys::{Array, ArrayBuffer, Date, Function, JSON, Object, Reflect, Uint8Array};
use selki_webhooks::{Event, VERIFY_HEADER_NAMES, VerifyError};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Verifies (and, for tests, signs) deliveries for one signing secret.
#[wasm_bindgen(js_name = Webhook)]
#[derive(Debug)]
pub struct JsWebhook {
    inner: selki_webhooks::Webhook,
}

#[wasm_bindgen(js_class = Webhook)]
impl JsWebhook {
    /// `new Webhook("whsec_…", { toleranceSeconds?: number })`
    #[wasm_bindgen(constructor)]
    pub fn new(secret: JsValue, options: JsValue) -> Result<JsWebhook, JsValue> {
        let secret = secret
            .as_string()
            .ok_or_else(|| type_error("the secret must be a string such as \"whsec_…\""))?;
        let inner = selki_webhooks::Webhook::new(&secret)
            .map_err(|e| error("WebhookSecretError", e.code(), &e.to_string()))?;
        let tolerance = read_tolerance(&options)?;
        Ok(Self {
            inner: match tolerance {
                Some(secs) => inner.with_tolerance(std::time::Duration::from_secs(secs)),
                None => inner,
            },
        })
    }

    /// Verifies against `Date.now()` and returns the typed event.
    pub fn verify(&self, payload: JsValue, headers: JsValue) -> Result<JsValue, JsValue> {
        let (body, headers) = (payload_bytes(&payload)?, read_headers(&headers)?);
        to_js(self.inner.verify(&body, &headers))
    }

    /// Verifies as of `now` (a `Date` or Unix seconds).
    #[wasm_bindgen(js_name = verifyAt)]
    pub fn verify_at(
        &self,
        payload: JsValue,
        headers: JsValue,
        now: JsValue,
    ) -> Result<JsValue, JsValue> {
        let (body, headers) = (payload_bytes(&payload)?, read_headers(&headers)?);
        to_js(self.inner.verify_at(&body, &headers, unix_seconds(&now)?))
    }

    /// Verifies the signature only: for replaying stored deliveries.
    #[wasm_bindgen(js_name = verifyIgnoringTimestamp)]
    pub fn verify_ignoring_timestamp(
        &self,
        payload: JsValue,
        headers: JsValue,
    ) -> Result<JsValue, JsValue> {
        let (body, headers) = (payload_bytes(&payload)?, read_headers(&headers)?);
        to_js(self.inner.verify_ignoring_timestamp(&body, &headers))
    }

    /// One `v1,<base64>` entry, as `standardwebhooks`' `sign`.
    pub fn sign(
        &self,
        msg_id: JsValue,
        timestamp: JsValue,
        payload: JsValue,
    ) -> Result<String, JsValue> {
        let msg_id = msg_id
            .as_string()
            .ok_or_else(|| type_error("the message id must be a string"))?;
        let timestamp = unix_seconds(&timestamp)?;
        Ok(self.inner.sign(&msg_id, timestamp, &payload_bytes(&payload)?))
    }
}

fn to_js(result: Result<Event, VerifyError>) -> Result<JsValue, JsValue> {
    let event = result.map_err(|e| error("WebhookVerificationError", e.code(), &e.to_string()))?;
    let json = event
        .to_json()
        .map_err(|e| error("WebhookVerificationError", "INVALID_EVENT", &e.to_string()))?;
    JSON::parse(&json)
}

/// Raw bytes are preferred; a string is taken as its UTF-8 encoding.
fn payload_bytes(payload: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(text) = payload.as_string() {
        return Ok(text.into_bytes());
    }
    if let Some(bytes) = payload.dyn_ref::<Uint8Array>() {
        return Ok(bytes.to_vec());
    }
    if let Some(buffer) = payload.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    Err(type_error(
        "the payload must be the raw body: a Uint8Array, Buffer, ArrayBuffer or string",
    ))
}

/// Copies the headers `verify` reads out of a WHATWG `Headers` (or anything
/// with a `get` method) or a plain object with names in any case.
fn read_headers(headers: &JsValue) -> Result<Vec<(&'static str, String)>, JsValue> {
    if !headers.is_object() {
        return Err(type_error("the headers must be a Headers object or a plain object"));
    }
    if let Some(get) = Reflect::get(headers, &"get".into())?.dyn_ref::<Function>() {
        let mut found = Vec::new();
        for name in VERIFY_HEADER_NAMES {
            push_value(&mut found, name, &get.call1(headers, &name.into())?);
        }
        return Ok(found);
    }
    // Node lower-cases incoming names, so try the exact names first and scan
    // every key only when something is still missing.
    let mut found = Vec::new();
    for name in VERIFY_HEADER_NAMES {
        push_value(&mut found, name, &Reflect::get(headers, &name.into())?);
    }
    if found.len() < VERIFY_HEADER_NAMES.len() {
        let object: &Object = headers.unchecked_ref();
        for key in Object::keys(object) {
            let Some(key_text) = key.as_string() else { continue };
            let lower = key_text.to_ascii_lowercase();
            let Some(name) = VERIFY_HEADER_NAMES.into_iter().find(|n| *n == lower) else {
                continue;
            };
            if lower != key_text && !found.iter().any(|(n, _)| *n == name) {
                push_value(&mut found, name, &Reflect::get(headers, &key)?);
            }
        }
    }
    Ok(found)
}

fn push_value(found: &mut Vec<(&'static str, String)>, name: &'static str, value: &JsValue) {
    if let Some(text) = value.as_string() {
        found.push((name, text));
    } else if let Some(values) = value.dyn_ref::<Array>() {
        // A repeated header: signature lists are space-separated.
        found.push((name, String::from(values.join(" "))));
    }
}

fn read_tolerance(options: &JsValue) -> Result<Option<u64>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    let value = Reflect::get(options, &"toleranceSeconds".into())?;
    if value.is_undefined() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(secs) if secs >= 0.0 && secs.fract() == 0.0 && secs <= u32::MAX as f64 => {
            Ok(Some(secs as u64))
        }
        _ => Err(type_error("toleranceSeconds must be a whole number of seconds, 0 or more")),
    }
}

fn unix_seconds(value: &JsValue) -> Result<i64, JsValue> {
    let secs = match value.dyn_ref::<Date>() {
        Some(date) => date.get_time() / 1000.0,
        None => value
            .as_f64()
            .ok_or_else(|| type_error("a time must be a Date or a number of Unix seconds"))?,
    };
    if !secs.is_finite() {
        return Err(type_error("a time must be a valid Date or a finite number"));
    }
    Ok(secs.floor() as i64)
}

fn error(name: &str, code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name(name);
    // Setting a property on a fresh Error cannot fail.
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}
