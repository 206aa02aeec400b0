//! What a webhook keeps sealed at rest (its signing secrets and its custom
//! headers), sealed, opened, checked at start-up and re-sealed after a key
//! rotation. Each sealed value is bound to its webhook and to what it is,
//! so a value copied to another row or column does not open.

use std::collections::BTreeMap;

use selki_domain::{CustomHeaders, Unopenable, WebhookId};
use selki_webhooks::Secret;
use sqlx::any::AnyRow;

use crate::sql::{opt_bytes, opt_text, opt_time, parsed, text};
use crate::{Sealed, Store, StoreError};

/// What [`Store::reseal_secrets`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Webhooks whose sealed values are now all sealed with the newest key.
    pub resealed: u64,
    /// Webhooks left as they were, by the key that sealed them.
    pub unopenable: BTreeMap<String, u64>,
}

/// What [`Store::check_sealed`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealedCheck {
    /// Webhooks with something sealed.
    pub checked: u64,
    /// Webhooks whose sealed values do not open, by the key that sealed them.
    pub unopenable: BTreeMap<String, u64>,
}

/// The sealed columns of a webhook row, as every query here reads them.
const SEALED_COLUMNS: &str = "id, secret, secret_key_id, previous_secret, previous_secret_key_id, \
    previous_secret_expires_at, headers, headers_sealed, headers_key_id, credential, credential_key_id";

impl Store {
    pub(crate) fn seal_secret(&self, secret: &Secret, id: WebhookId) -> Sealed {
        self.keyring
            .seal(secret.expose().as_bytes(), &id.to_string())
    }

    fn open_secret(&self, sealed: &Sealed, id: WebhookId) -> Result<Secret, StoreError> {
        let plain = self.open_sealed(sealed, &id.to_string(), id, "signing secret")?;
        let text =
            String::from_utf8(plain).map_err(|_| StoreError::Corrupt(format!("secret of {id}")))?;
        Secret::parse(&text).map_err(|_| StoreError::Corrupt(format!("secret of {id}")))
    }

    /// The headers sealed, or `None` when there are none.
    pub(crate) fn seal_headers(&self, headers: &CustomHeaders, id: WebhookId) -> Option<Sealed> {
        if headers.is_empty() {
            return None;
        }
        let triples: Vec<(&str, &str, bool)> = headers
            .headers()
            .map(|h| (h.name(), h.value(), h.is_sensitive()))
            .collect();
        let json = serde_json::to_vec(&triples).expect("strings and flags always serialise");
        Some(self.keyring.seal(&json, &headers_context(id)))
    }

    /// A row's headers: opened from `headers_sealed`, or read from the
    /// plaintext `headers` of a row written before headers were sealed.
    pub(crate) fn open_headers(
        &self,
        row: &AnyRow,
        id: WebhookId,
    ) -> Result<CustomHeaders, StoreError> {
        let json = match (
            opt_bytes(row, "headers_sealed")?,
            opt_text(row, "headers_key_id")?,
        ) {
            (Some(bytes), Some(key_id)) => self.open_sealed(
                &Sealed { key_id, bytes },
                &headers_context(id),
                id,
                "custom headers",
            )?,
            _ => text(row, "headers")?.into_bytes(),
        };
        parse_headers(&json).ok_or_else(|| StoreError::Corrupt(format!("headers of {id}")))
    }

    /// Opens the secrets of a row with the sealed-secret columns: the
    /// current one, then a rotated-out one still within its grace period.
    pub(crate) fn live_secrets(
        &self,
        row: &AnyRow,
        id: WebhookId,
    ) -> Result<Vec<Secret>, StoreError> {
        let mut secrets = Vec::new();
        let previous_live =
            opt_time(row, "previous_secret_expires_at")?.is_some_and(|t| t > self.now());
        for (bytes, key_id, live) in [
            ("secret", "secret_key_id", true),
            ("previous_secret", "previous_secret_key_id", previous_live),
        ] {
            if let (true, Some(bytes), Some(key_id)) =
                (live, opt_bytes(row, bytes)?, opt_text(row, key_id)?)
            {
                secrets.push(self.open_secret(&Sealed { key_id, bytes }, id)?);
            }
        }
        Ok(secrets)
    }

    pub(crate) fn open_sealed(
        &self,
        sealed: &Sealed,
        context: &str,
        id: WebhookId,
        what: &'static str,
    ) -> Result<Vec<u8>, StoreError> {
        self.keyring.open(sealed, context).ok_or_else(|| {
            StoreError::Unopenable(Unopenable {
                webhook: id.to_string(),
                what,
                key_id: sealed.key_id.clone(),
            })
        })
    }

    /// Seals the headers of rows written before headers were sealed: part
    /// of migrating, so no value stays in the clear once a server started.
    pub(crate) async fn seal_plaintext_headers(&self) -> Result<u64, StoreError> {
        let rows = sqlx::query(
            "SELECT id, headers FROM webhooks WHERE headers_sealed IS NULL AND headers <> '[]'",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let id = parsed("id", &text(row, "id")?, WebhookId::parse)?;
            let headers = parse_headers(text(row, "headers")?.as_bytes())
                .ok_or_else(|| StoreError::Corrupt(format!("headers of {id}")))?;
            let sealed = self.seal_headers(&headers, id);
            sqlx::query(
                "UPDATE webhooks SET headers = '[]', headers_sealed = $2, headers_key_id = $3 \
                 WHERE id = $1",
            )
            .bind(id.to_string())
            .bind(sealed.as_ref().map(|s| s.bytes.clone()))
            .bind(sealed.map(|s| s.key_id))
            .execute(&self.pool)
            .await?;
        }
        Ok(rows.len() as u64)
    }

    /// Re-seals every stored secret and header set with the newest
    /// configured key, after a key rotation (or from the development key,
    /// with a keyring that also opens it). A webhook whose values no
    /// configured key opens is left as it is and counted by its key.
    pub async fn reseal_secrets(&self) -> Result<Resealed, StoreError> {
        let sql = format!(
            "SELECT {SEALED_COLUMNS} FROM webhooks \
             WHERE (secret IS NOT NULL AND secret_key_id <> $1) \
             OR (previous_secret IS NOT NULL AND previous_secret_key_id <> $1) \
             OR (headers_sealed IS NOT NULL AND headers_key_id <> $1) \
             OR (credential IS NOT NULL AND credential_key_id <> $1)"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.keyring.sealing_key_id().to_owned())
            .fetch_all(&self.pool)
            .await?;
        let mut done = Resealed::default();
        for row in rows {
            let id = parsed("id", &text(&row, "id")?, WebhookId::parse)?;
            match self.resealed(&row, id) {
                Ok(values) => self.write_resealed(id, values).await?,
                Err(StoreError::Unopenable(u)) => {
                    *done.unopenable.entry(u.key_id).or_default() += 1;
                    continue;
                }
                Err(other) => return Err(other),
            }
            done.resealed += 1;
        }
        Ok(done)
    }

    /// A row's sealed values, opened and sealed again with the newest key:
    /// secret, previous secret, headers.
    fn resealed(&self, row: &AnyRow, id: WebhookId) -> Result<[Option<Sealed>; 4], StoreError> {
        let secret = |bytes: &str, key_id: &str| -> Result<Option<Sealed>, StoreError> {
            match (opt_bytes(row, bytes)?, opt_text(row, key_id)?) {
                (Some(bytes), Some(key_id)) => {
                    let secret = self.open_secret(&Sealed { key_id, bytes }, id)?;
                    Ok(Some(self.seal_secret(&secret, id)))
                }
                _ => Ok(None),
            }
        };
        Ok([
            secret("secret", "secret_key_id")?,
            secret("previous_secret", "previous_secret_key_id")?,
            self.seal_headers(&self.open_headers(row, id)?, id),
            self.open_credential(row, id)?
                .map(|c| self.seal_credential(&c, id)),
        ])
    }

    async fn write_resealed(
        &self,
        id: WebhookId,
        [current, previous, headers, credential]: [Option<Sealed>; 4],
    ) -> Result<(), StoreError> {
        let bytes = |s: &Option<Sealed>| s.as_ref().map(|s| s.bytes.clone());
        let key_id = |s: &Option<Sealed>| s.as_ref().map(|s| s.key_id.clone());
        sqlx::query(
            "UPDATE webhooks SET secret = $2, secret_key_id = $3, previous_secret = $4, \
             previous_secret_key_id = $5, headers_sealed = $6, headers_key_id = $7, \
             headers = '[]', credential = $8, credential_key_id = $9 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(bytes(&current))
        .bind(key_id(&current))
        .bind(bytes(&previous))
        .bind(key_id(&previous))
        .bind(bytes(&headers))
        .bind(key_id(&headers))
        .bind(bytes(&credential))
        .bind(key_id(&credential))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Tries to open every sealed value in use (current secrets, previous
    /// ones still signing, headers), a page at a time: what start-up checks
    /// so that a missing key is found before the first delivery needs it.
    pub async fn check_sealed(&self) -> Result<SealedCheck, StoreError> {
        const PAGE: usize = 1000;
        let sql = format!(
            "SELECT {SEALED_COLUMNS} FROM webhooks WHERE deleted_at IS NULL AND id > $1 \
             AND (secret IS NOT NULL OR previous_secret IS NOT NULL OR headers_sealed IS NOT NULL \
                  OR credential IS NOT NULL) \
             ORDER BY id LIMIT $2"
        );
        let mut check = SealedCheck::default();
        let mut after = String::new();
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(after.clone())
                .bind(PAGE as i64)
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                let id = parsed("id", &text(row, "id")?, WebhookId::parse)?;
                check.checked += 1;
                let opened = self
                    .live_secrets(row, id)
                    .and_then(|_| self.open_headers(row, id))
                    .and_then(|_| self.open_credential(row, id));
                match opened {
                    Ok(_) => {}
                    Err(StoreError::Unopenable(u)) => {
                        *check.unopenable.entry(u.key_id).or_default() += 1;
                    }
                    Err(other) => return Err(other),
                }
                after = id.to_string();
            }
            if rows.len() < PAGE {
                return Ok(check);
            }
        }
    }
}

/// Sealed headers are bound to their webhook and to being headers.
fn headers_context(id: WebhookId) -> String {
    format!("{id}/headers")
}

/// `[[name, value, sensitive], …]`, or the older `[[name, value], …]`.
fn parse_headers(json: &[u8]) -> Option<CustomHeaders> {
    if let Ok(triples) = serde_json::from_slice::<Vec<(String, String, bool)>>(json) {
        return Some(CustomHeaders::from_stored(triples));
    }
    let pairs = serde_json::from_slice::<Vec<(String, String)>>(json).ok()?;
    Some(CustomHeaders::from_stored(
        pairs.into_iter().map(|(n, v)| (n, v, false)).collect(),
    ))
}
