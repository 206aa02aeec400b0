//! `selki keys …`

use selki_proto::v1 as pb;
use serde_json::{Value, json};

use crate::cli::KeyCommand;
use crate::client::Client;
use crate::failure::Outcome;
use crate::output::{Table, bad, fields, good, print_json, time};
use crate::webhooks::confirm;

fn key_json(k: &pb::ApiKey) -> Value {
    json!({
        "id": k.id,
        "organization_id": k.organization_id,
        "name": k.name,
        "create_time": time(k.create_time.as_ref()),
        "revoke_time": time(k.revoke_time.as_ref()),
        "expire_time": time(k.expire_time.as_ref()),
        "scope": scope_name(k.scope),
    })
}

fn scope_name(scope: i32) -> String {
    pb::ApiKeyScope::try_from(scope)
        .ok()
        .filter(|s| *s != pb::ApiKeyScope::Unspecified)
        .map_or("full".into(), |s| {
            s.as_str_name()
                .trim_start_matches("API_KEY_SCOPE_")
                .to_ascii_lowercase()
        })
}

pub(crate) async fn run(client: &mut Client, command: KeyCommand) -> Outcome {
    match command {
        KeyCommand::Create {
            name,
            org,
            scope,
            quiet,
        } => {
            let scope = match scope.as_str() {
                "ingest" => pb::ApiKeyScope::Ingest,
                "read" => pb::ApiKeyScope::Read,
                _ => pb::ApiKeyScope::Full,
            };
            let request = pb::CreateApiKeyRequest {
                scope: scope as i32,
                organization_id: org.unwrap_or_default(),
                name,
            };
            let created = client
                .keys()
                .await?
                .create_api_key(client.request(request)?)
                .await?
                .into_inner();
            let key = created.api_key.unwrap_or_default();
            if quiet {
                println!("{}", created.key);
            } else if client.json() {
                print_json(&json!({ "api_key": key_json(&key), "key": created.key }));
            } else {
                print!(
                    "{}",
                    fields(&[
                        ("id", key.id),
                        ("organization", key.organization_id),
                        ("name", key.name),
                        ("scope", scope_name(key.scope)),
                    ])
                );
                println!("\nThe key (shown this once):\n{}", created.key);
            }
        }
        KeyCommand::Session {
            org,
            lifetime,
            read_only,
            name,
            quiet,
        } => {
            let request = pb::CreateConsoleSessionRequest {
                organization_id: org.unwrap_or_default(),
                lifetime: Some(prost_types::Duration {
                    seconds: i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
                    nanos: 0,
                }),
                read_only,
                name,
            };
            let created = client
                .keys()
                .await?
                .create_console_session(client.request(request)?)
                .await?
                .into_inner();
            let session = created.session.unwrap_or_default();
            let console = console_link(&client.addr, &session, &created.token);
            if quiet {
                println!("{}", created.token);
            } else if client.json() {
                print_json(&json!({
                    "session": key_json(&session),
                    "token": created.token,
                    "console": console,
                }));
            } else {
                print!(
                    "{}",
                    fields(&[
                        ("id", session.id),
                        ("organization", session.organization_id),
                        ("name", session.name),
                        ("scope", scope_name(session.scope)),
                        ("ends", time(session.expire_time.as_ref())),
                    ])
                );
                println!("\nThe token (shown this once):\n{}", created.token);
                println!(
                    "\nThe console, signed in as this session (open it in a browser):\n{console}"
                );
            }
        }
        KeyCommand::List => {
            // Every page: the list is short, and a table of part of it misleads.
            let mut keys = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = pb::ListApiKeysRequest {
                    page_size: 100,
                    page_token,
                };
                let page = client
                    .keys()
                    .await?
                    .list_api_keys(client.request(request)?)
                    .await?
                    .into_inner();
                keys.extend(page.api_keys);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            if client.json() {
                print_json(&json!(keys.iter().map(key_json).collect::<Vec<_>>()));
            } else {
                let mut table = Table::new(&["ID", "ORGANIZATION", "NAME", "CREATED", "STATE"]);
                for k in &keys {
                    let state = match (&k.revoke_time, &k.expire_time) {
                        (Some(at), _) => bad(&format!("revoked {}", time(Some(at)))),
                        (None, Some(end)) => good(&format!("session until {}", time(Some(end)))),
                        (None, None) => good("active"),
                    };
                    table.row(vec![
                        k.id.clone(),
                        k.organization_id.clone(),
                        k.name.clone(),
                        time(k.create_time.as_ref()),
                        state,
                    ]);
                }
                print!("{}", table.render());
            }
        }
        KeyCommand::Revoke { id, yes } => {
            confirm(
                &format!("Revoke API key {id}? Whoever uses it is refused at once"),
                yes,
            )?;
            let request = pb::RevokeApiKeyRequest { id: id.clone() };
            client
                .keys()
                .await?
                .revoke_api_key(client.request(request)?)
                .await?;
            if client.json() {
                print_json(&json!({ "revoked": id }));
            } else {
                println!("Revoked {id}.");
            }
        }
    }
    Ok(())
}

/// The console's link for a session: the server's `/console/`, the token
/// in the fragment (which no server or log sees), and what the console
/// shows (when the session ends, whether it is read-only).
fn console_link(addr: &str, session: &pb::ApiKey, token: &str) -> String {
    let mut link = format!(
        "{}/console/#token={token}&session={}",
        addr.trim_end_matches('/'),
        session.id
    );
    if let Some(end) = &session.expire_time {
        link.push_str(&format!("&expires={}", end.seconds));
    }
    if session.scope == pb::ApiKeyScope::Read as i32 {
        link.push_str("&read_only=1");
    }
    link
}
