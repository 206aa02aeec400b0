//! The `@selki/webhooks` npm package: a wasm-bindgen skin over
//! `selki-webhooks`. It only converts JavaScript values to Rust ones and
//! back; every rule of the wire format lives in the Rust crate.

use std::cell::OnceCell;

use js_sys::{Array, ArrayBuffer, Date, Function, Object, Reflect, Uint8Array};
use selki_webhooks::{Event, HeaderSource, VERIFY_HEADER_NAMES, VerifyError};
use serde::Serialize as _;
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
        let (body, headers) = (payload_bytes(&payload)?, JsHeaders::new(&headers)?);
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
        let (body, headers) = (payload_bytes(&payload)?, JsHeaders::new(&headers)?);
        to_js(self.inner.verify_at(&body, &headers, unix_seconds(&now)?))
    }

    /// Verifies the signature only: for replaying stored deliveries.
    #[wasm_bindgen(js_name = verifyIgnoringTimestamp)]
    pub fn verify_ignoring_timestamp(
        &self,
        payload: JsValue,
        headers: JsValue,
    ) -> Result<JsValue, JsValue> {
        let (body, headers) = (payload_bytes(&payload)?, JsHeaders::new(&headers)?);
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
        Ok(self
            .inner
            .sign(&msg_id, timestamp, &payload_bytes(&payload)?))
    }
}

fn to_js(result: Result<Event, VerifyError>) -> Result<JsValue, JsValue> {
    let event = result.map_err(|e| error("WebhookVerificationError", e.code(), &e.to_string()))?;
    // Straight into JavaScript objects: a JSON string and JSON.parse would
    // cost twice as much for large bodies.
    event
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| error("WebhookVerificationError", "INVALID_EVENT", &e.to_string()))
}

#[wasm_bindgen]
extern "C" {
    type TextEncoder;
    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;
    #[wasm_bindgen(method, js_name = encodeInto)]
    fn encode_into(this: &TextEncoder, text: &JsValue, into: &Uint8Array) -> EncodeResult;
    type EncodeResult;
    #[wasm_bindgen(method, getter)]
    fn written(this: &EncodeResult) -> u32;
}

thread_local! {
    static ENCODER: TextEncoder = TextEncoder::new();
    static SCRATCH: std::cell::RefCell<Uint8Array> = std::cell::RefCell::new(Uint8Array::new_with_length(0));
}

/// Raw bytes are preferred; a string is taken as its UTF-8 encoding.
fn payload_bytes(payload: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(bytes) = payload.dyn_ref::<Uint8Array>() {
        return Ok(bytes.to_vec());
    }
    if payload.is_string() {
        // The engine's own encoder: wasm-bindgen's string glue copies ASCII
        // one character at a time, three times slower on large bodies.
        return Ok(utf8(payload));
    }
    if let Some(buffer) = payload.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    Err(type_error(&payload_mistake(payload)))
}

/// What was passed instead of the raw body, and what to pass: the common
/// mistakes named, since each has a different fix.
fn payload_mistake(payload: &JsValue) -> String {
    const RAW: &str = "pass the raw body: a Uint8Array, Buffer, ArrayBuffer or string";
    let has = |name: &str| {
        payload.is_object() && Reflect::get(payload, &name.into()).is_ok_and(|v| v.is_function())
    };
    if has("then") {
        format!(
            "the payload is a Promise: await it first (e.g. `await request.text()`), then {RAW}"
        )
    } else if has("getReader") || has("pipe") || has("on") {
        format!(
            "the payload is a stream: read it to the end first (e.g. `await request.arrayBuffer()`, or `express.raw()`), then {RAW}"
        )
    } else if payload.is_object() {
        format!(
            "the payload is a parsed object: verify the body as received, before any JSON parser (re-serialising changes the bytes and fails the signature); {RAW}"
        )
    } else if payload.is_undefined() || payload.is_null() {
        format!("the payload is missing: {RAW}")
    } else {
        format!("the payload is a {}: {RAW}", js_type(payload))
    }
}

fn js_type(value: &JsValue) -> String {
    value.js_typeof().as_string().unwrap_or_default()
}

/// The largest scratch array kept between calls: one huge body must not
/// pin three times its size in memory for the life of the process.
const SCRATCH_KEPT: u32 = 1 << 20;

/// A string's UTF-8 bytes, encoded by the engine into a scratch array kept
/// between calls: `TextEncoder.encode` would allocate a fresh array for
/// every body.
fn utf8(text: &JsValue) -> Vec<u8> {
    let units = text.unchecked_ref::<js_sys::JsString>().length();
    // A UTF-16 unit takes at most three bytes of UTF-8.
    let needed = units.saturating_mul(3);
    if needed > SCRATCH_KEPT {
        return encode_into(text, &Uint8Array::new_with_length(needed));
    }
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.length() < needed {
            *scratch = Uint8Array::new_with_length(needed.next_power_of_two());
        }
        encode_into(text, &scratch)
    })
}

fn encode_into(text: &JsValue, into: &Uint8Array) -> Vec<u8> {
    let written = ENCODER
        .with(|encoder| encoder.encode_into(text, into))
        .written();
    let mut bytes = vec![0; written as usize];
    into.subarray(0, written).copy_to(&mut bytes);
    bytes
}

/// Headers read lazily from a WHATWG `Headers` (or anything with a `get`
/// method) or a plain object with names in any case: `verify` asks only for
/// the names it needs, and each crossing into JavaScript costs time.
struct JsHeaders<'a> {
    source: &'a JsValue,
    get: Option<Function>,
    values: [OnceCell<Option<String>>; VERIFY_HEADER_NAMES.len()],
    /// Lower-cased copies of a plain object's relevant keys, made once on
    /// the first miss.
    folded: OnceCell<Vec<(String, JsValue)>>,
}

thread_local! {
    /// The header names as JavaScript strings, made once.
    static GET: JsValue = JsValue::from_str("get");
    static JS_NAMES: Vec<JsValue> = VERIFY_HEADER_NAMES.iter().map(|n| JsValue::from_str(n)).collect();
}

impl<'a> JsHeaders<'a> {
    fn new(source: &'a JsValue) -> Result<Self, JsValue> {
        // Reflect.get throws for anything but an object: one crossing for
        // both the type check and the lookup.
        let get = GET
            .with(|get| Reflect::get(source, get))
            .map_err(|_| type_error("the headers must be a Headers object or a plain object"))?
            .dyn_into::<Function>()
            .ok();
        Ok(Self {
            source,
            get,
            values: Default::default(),
            folded: OnceCell::new(),
        })
    }

    fn lookup(&self, index: usize) -> Option<String> {
        let exact = JS_NAMES.with(|names| match &self.get {
            Some(get) => get.call1(self.source, &names[index]).ok(),
            None => Reflect::get(self.source, &names[index]).ok(),
        })?;
        match text(&exact) {
            Some(value) => Some(value),
            // `Headers.get` is case-insensitive already; objects are not.
            None if self.get.is_none() => self.lookup_folded(VERIFY_HEADER_NAMES[index]),
            None => None,
        }
    }

    fn lookup_folded(&self, name: &str) -> Option<String> {
        let object: &Object = self.source.unchecked_ref();
        let folded = self.folded.get_or_init(|| {
            Object::keys(object)
                .iter()
                .filter_map(|key| {
                    let lower = key.as_string()?.to_ascii_lowercase();
                    VERIFY_HEADER_NAMES
                        .contains(&lower.as_str())
                        .then_some((lower, key))
                })
                .collect()
        });
        let (_, key) = folded.iter().find(|(lower, _)| lower == name)?;
        text(&Reflect::get(self.source, key).ok()?)
    }
}

impl HeaderSource for JsHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        let index = VERIFY_HEADER_NAMES.iter().position(|n| *n == name)?;
        self.values[index]
            .get_or_init(|| self.lookup(index))
            .as_deref()
    }
}

/// A header value: a string, or a repeated header's array of strings
/// (signature lists are space-separated, so join with spaces).
fn text(value: &JsValue) -> Option<String> {
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    let values = value.dyn_ref::<Array>()?;
    Some(String::from(values.join(" ")))
}

fn read_tolerance(options: &JsValue) -> Result<Option<u64>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(type_error(
            "the options must be an object such as { toleranceSeconds: 300 }",
        ));
    }
    let object: &Object = options.unchecked_ref();
    for key in Object::keys(object).iter() {
        let key = key.as_string().unwrap_or_default();
        if key != "toleranceSeconds" {
            return Err(type_error(&format!(
                "unknown option \"{key}\": the only option is toleranceSeconds (e.g. {{ toleranceSeconds: 300 }})"
            )));
        }
    }
    let value = Reflect::get(options, &"toleranceSeconds".into())?;
    if value.is_undefined() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(secs) if secs >= 0.0 && secs.fract() == 0.0 && secs <= u32::MAX as f64 => {
            Ok(Some(secs as u64))
        }
        _ => Err(type_error(
            "toleranceSeconds must be a whole number of seconds, 0 or more",
        )),
    }
}

/// Unix seconds from 10^11 on are the year 5138: such a number is
/// `Date.now()`'s milliseconds, a mistake that would otherwise sign or
/// verify silently wrong.
const MILLISECONDS_FROM: f64 = 1e11;

fn unix_seconds(value: &JsValue) -> Result<i64, JsValue> {
    let secs = match value.dyn_ref::<Date>() {
        Some(date) => date.get_time() / 1000.0,
        None => {
            let secs = value.as_f64().ok_or_else(|| {
                type_error(&format!(
                    "a time must be a Date or a number of Unix seconds, not a {}",
                    js_type(value)
                ))
            })?;
            if secs.abs() >= MILLISECONDS_FROM {
                return Err(type_error(
                    "the time looks like milliseconds (Date.now()): pass Unix seconds, \
                     Math.floor(Date.now() / 1000), or a Date",
                ));
            }
            secs
        }
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
