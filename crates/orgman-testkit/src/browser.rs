//! A browser's authorization-code login, done with plain HTTP: follow the
//! redirects, keep the cookies (by path, as a browser does, since Keycloak
//! sets the same cookie names under each realm's path), submit the SAML
//! POST-binding forms that a browser's script would submit by itself, fill
//! in the login form, and exchange the code at the end.

use std::collections::BTreeMap;

use crate::{RealmUser, Stack};

/// The redirect URI of the stack's `orgman-test` client.
pub const TEST_REDIRECT_URI: &str = "http://127.0.0.1:8080/callback";

/// Cookies by (path, name).
#[derive(Default)]
struct Jar {
    cookies: BTreeMap<(String, String), String>,
}

impl Jar {
    fn store(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let mut path = "/".to_owned();
            let mut expired = value.is_empty();
            for attribute in parts {
                let lower = attribute.to_ascii_lowercase();
                if let Some(p) = lower.strip_prefix("path=") {
                    path = attribute[5..5 + p.len()].to_owned();
                }
                if lower == "max-age=0" {
                    expired = true;
                }
            }
            let key = (path, name.to_owned());
            if expired {
                self.cookies.remove(&key);
            } else {
                self.cookies.insert(key, value.to_owned());
            }
        }
    }

    fn header(&self, url: &url::Url) -> String {
        self.cookies
            .iter()
            .filter(|((path, _), _)| url.path().starts_with(path.trim_end_matches('/')))
            .map(|((_, name), value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The `action` of the page's first form, unescaped.
fn form_action(page: &str) -> Option<String> {
    let form = &page[page.find("<form")?..];
    let start = form.find("action=\"")? + "action=\"".len();
    let end = start + form[start..].find('"')?;
    Some(form[start..end].replace("&amp;", "&"))
}

/// The `name`/`value` pairs of the page's first form's hidden inputs,
/// unescaped.
fn hidden_inputs(page: &str) -> Vec<(String, String)> {
    let Some(start) = page.find("<form") else {
        return Vec::new();
    };
    let form = &page[start
        ..page[start..]
            .find("</form>")
            .map_or(page.len(), |e| start + e)];
    let attribute = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        let from = tag.find(&key)? + key.len();
        let to = from + tag[from..].find('"')?;
        Some(unescape(&tag[from..to]))
    };
    form.split("<input")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            if attribute(tag, "type").as_deref() != Some("hidden") {
                return None;
            }
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x2F;", "/")
        .replace("&#x3D;", "=")
        .replace("&#x2B;", "+")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// What a test does to a SAML response before the browser posts it on:
/// the decoded XML in, the XML to send out.
pub type Tamper = fn(&str) -> String;

/// The page's visible text, tags and blank runs removed (for errors).
fn text_of(page: &str) -> String {
    let body = page.split("<body").nth(1).unwrap_or(page);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn title(page: &str) -> String {
    page.split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or("(no title)")
        .trim()
        .to_owned()
}

/// Logs in as a browser would, starting at the `dev` realm's authorization
/// endpoint for the `orgman-test` client with `kc_idp_hint = alias`, and
/// answering the first login form met (the organization's provider's) as
/// `user`, and asking to link when Keycloak says the account exists.
/// Returns the `dev` realm's access token.
///
/// # Errors
/// Where the journey stopped, with the page's title or the status: a
/// provider that is disabled or missing never shows its login form.
pub async fn login_through(alias: &str, user: RealmUser) -> Result<String, String> {
    login(Some(alias), user, None).await
}

/// [`login_through`], where the SAML response the identity provider hands
/// the browser is changed by `tamper` before it is posted on (an attacker
/// between the two, or one who forges responses).
///
/// # Errors
/// As [`login_through`].
pub async fn login_through_tampered(
    alias: &str,
    user: RealmUser,
    tamper: Tamper,
) -> Result<String, String> {
    login(Some(alias), user, Some(tamper)).await
}

/// Logs in as a person who types their address at the `dev` realm's login
/// page (Keycloak's identity-first login of Organizations) and then
/// answers the password form of wherever Keycloak sends them, as `user`.
///
/// # Errors
/// As [`login_through`]; also when the `dev` realm itself asks for a
/// password (it did not send the address to its organization's provider).
pub async fn login_by_address(user: RealmUser) -> Result<String, String> {
    login(None, user, None).await
}

async fn login(
    alias: Option<&str>,
    user: RealmUser,
    tamper: Option<Tamper>,
) -> Result<String, String> {
    let stack = Stack::get();
    let realm_path = url::Url::parse(&stack.oidc_issuer)
        .map_err(|e| e.to_string())?
        .path()
        .to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let mut jar = Jar::default();
    let mut params = vec![
        ("client_id", stack.test_client_id.as_str()),
        ("redirect_uri", TEST_REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "orgman-test"),
    ];
    if let Some(alias) = alias {
        params.push(("kc_idp_hint", alias));
    }
    let mut url = url::Url::parse_with_params(
        &format!("{}/protocol/openid-connect/auth", stack.oidc_issuer),
        &params,
    )
    .map_err(|e| e.to_string())?;
    let mut form: Option<Vec<(String, String)>> = None;
    let mut answered = false;
    let mut typed = false;
    let mut linked = false;
    for _ in 0..30 {
        let request = match form.take() {
            Some(fields) => client.post(url.clone()).form(&fields),
            None => client.get(url.clone()),
        };
        let response = request
            .header(reqwest::header::COOKIE, jar.header(&url))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        jar.store(&response);
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or("a redirect without Location")?;
            let next = url.join(location).map_err(|e| e.to_string())?;
            if next.as_str().starts_with(TEST_REDIRECT_URI) {
                let code = next
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .ok_or_else(|| format!("back at the client without a code: {next}"))?;
                return exchange(&client, &code).await;
            }
            url = next;
            continue;
        }
        let page = response.text().await.unwrap_or_default();
        // A SAML POST binding: a page whose script submits a form of hidden
        // fields at once; a browser would, so this does.
        let hidden = hidden_inputs(&page);
        if status.is_success()
            && hidden
                .iter()
                .any(|(name, _)| name == "SAMLRequest" || name == "SAMLResponse")
        {
            let action = form_action(&page).ok_or("a SAML POST page without a form")?;
            url = url.join(&action).map_err(|e| e.to_string())?;
            form = Some(
                hidden
                    .into_iter()
                    .map(|(name, value)| match (name.as_str(), tamper) {
                        ("SAMLResponse", Some(tamper)) => {
                            let xml = decode(&value)?;
                            Ok((name, encode(&tamper(&xml))))
                        }
                        _ => Ok((name, value)),
                    })
                    .collect::<Result<_, String>>()?,
            );
            continue;
        }
        let at_realm = url.path().starts_with(&format!("{realm_path}/"));
        if status.is_success() && page.contains("name=\"password\"") && at_realm && alias.is_none()
        {
            return Err(format!("the realm itself asked for a password at {url}"));
        }
        if status.is_success()
            && !typed
            && !answered
            && page.contains("name=\"username\"")
            && !page.contains("name=\"password\"")
        {
            let action = form_action(&page).ok_or("an address page without a form")?;
            url = url.join(&action).map_err(|e| e.to_string())?;
            form = Some(vec![("username".into(), user.email.into())]);
            typed = true;
            continue;
        }
        // "Account already exists": ask to link, as a person (or an
        // attacker) would; where Keycloak goes from there is the test's.
        if status.is_success() && !linked && page.contains("value=\"linkAccount\"") {
            let action = form_action(&page).ok_or("a link page without a form")?;
            url = url.join(&action).map_err(|e| e.to_string())?;
            form = Some(vec![("submitAction".into(), "linkAccount".into())]);
            linked = true;
            continue;
        }
        if status.is_success() && !answered && page.contains("name=\"password\"") {
            let action = form_action(&page).ok_or("a login page without a form")?;
            url = url.join(&action).map_err(|e| e.to_string())?;
            form = Some(vec![
                ("username".into(), user.username.into()),
                ("password".into(), user.password.into()),
            ]);
            answered = true;
            continue;
        }
        return Err(format!(
            "stopped at {url}: {status} {:?}: {}",
            title(&page),
            text_of(&page)
        ));
    }
    Err("too many redirects".into())
}

fn decode(value: &str) -> Result<String, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.split_whitespace().collect::<String>())
        .map_err(|e| format!("a SAMLResponse that is not base64: {e}"))?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

fn encode(xml: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(xml)
}

async fn exchange(client: &reqwest::Client, code: &str) -> Result<String, String> {
    let stack = Stack::get();
    let response = client
        .post(stack.token_endpoint())
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", stack.test_client_id.as_str()),
            ("redirect_uri", TEST_REDIRECT_URI),
            ("code", code),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the code exchange answered {status}: {body}"))
}
