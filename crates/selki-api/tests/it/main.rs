//! What the API's own types promise outside any request (the RPCs are
//! tested over TCP in selki-server's tests).

use secrecy::SecretString;
use selki_api::ApiSettings;
use selki_domain::Health;
use selki_domain::UrlPolicy;

#[test]
fn settings_never_print_the_admin_key() {
    let key = "bootstrap-admin-key-0123456789";
    let settings = ApiSettings {
        url_policy: UrlPolicy::HttpsOnly,
        admin_key: Some(SecretString::from(key)),
        health: Health::default(),
        max_watch_streams_per_key: 16,
        manual_calls_per_organization: 8,
        manual_calls: 64,
    };
    let printed = format!("{settings:?} {settings:#?}");
    assert!(!printed.contains(key), "{printed}");
    assert!(printed.contains("admin_key"), "{printed}");
}
