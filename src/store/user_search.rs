//! The user directory's search index: per tenant, one entry per search word and per filter
//! value of every user, `tenant \0 kind \0 value \0 user id` → "", written in the same
//! transaction as the user ([`reindex`]), so the admin API lists, searches and filters users
//! from ordered ranges instead of reading every user.
//!
//! Kinds: `w` a search word (lower case: the name's words; the e-mail, its local part's and
//! domain's words; the mobile as typed and its digits; the emp_id and username and their words),
//! `s` the status, `a` an assigned app, `r` the admin role (`true`/`false`), `m` whether a second
//! factor is set up (`true`/`false`), `u` every user (empty value).

use super::*;

/// `tenant \0 kind \0 value \0 user id` → "" (see the module).
pub(crate) const USER_SEARCH: TableDefinition<&str, &str> = TableDefinition::new("user_search");

/// How many index entries one page may read before it answers (with a cursor to go on): bounds
/// the work of a search whose filters match few of the words' users.
pub const MAX_SCAN: usize = 5000;

/// What a list asks for: a search (`q`, words matched as prefixes of the user's words, all
/// of them) and filters; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserQuery {
    pub q: Option<String>,
    pub status: Option<crate::domain::UserStatus>,
    pub app: Option<String>,
    pub admin: Option<bool>,
    pub mfa: Option<bool>,
}

/// One page of users and the key to go on from (`None`: the last page).
#[derive(Debug, Clone, Default)]
pub struct UserPage {
    pub users: Vec<User>,
    pub next: Option<String>,
}

fn clean(s: &str) -> String {
    s.trim().to_lowercase().replace('\0', "")
}

fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

/// The words a search matches `u` by (see the module), without repeats.
pub fn search_words(u: &User) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut whole = |v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            out.push(clean(v));
            out.extend(words(v));
        }
    };
    whole(u.name.as_deref());
    whole(u.email.as_deref());
    whole(u.username.as_deref());
    whole(u.emp_id.as_deref());
    whole(u.mobile.as_deref());
    if let Some(m) = u.mobile.as_deref() {
        let digits: String = m.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() {
            out.push(digits);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether a second factor is set up: a confirmed authenticator app or codes by message.
pub fn has_mfa(u: &User) -> bool {
    u.totp.as_ref().is_some_and(|t| t.confirmed) || u.mfa_by_code
}

fn entry(tenant: &str, kind: &str, value: &str, id: &str) -> String {
    format!("{tenant}\0{kind}\0{value}\0{id}")
}

fn entries(u: &User) -> Vec<String> {
    let t = u.tenant.as_str();
    let mut v: Vec<String> = search_words(u).iter().map(|w| entry(t, "w", w, &u.id)).collect();
    v.push(entry(t, "s", u.status.as_str(), &u.id));
    v.extend(u.apps.iter().map(|a| entry(t, "a", &clean(a), &u.id)));
    v.push(entry(t, "r", if u.admin { "true" } else { "false" }, &u.id));
    v.push(entry(t, "m", if has_mfa(u) { "true" } else { "false" }, &u.id));
    v.push(entry(t, "u", "", &u.id));
    v
}

/// Moves `old`'s entries to `new`'s (either absent: a user created or deleted) in `tx`.
pub(crate) fn reindex(tx: &WriteTx, old: Option<&User>, new: Option<&User>) -> Result<()> {
    let mut t = tx.open_table(USER_SEARCH)?;
    let before = old.map(entries).unwrap_or_default();
    let after = new.map(entries).unwrap_or_default();
    for k in before.iter().filter(|k| !after.contains(k)) {
        t.remove(k.as_str())?;
    }
    for k in after.iter().filter(|k| !before.contains(k)) {
        t.insert(k.as_str(), "")?;
    }
    Ok(())
}

/// Whether `u` matches the query's filters and every one of `q`'s words.
fn matches(u: &User, q: &UserQuery, qwords: &[String]) -> bool {
    let ws = || search_words(u);
    q.status.is_none_or(|s| u.status == s)
        && q.app.as_deref().is_none_or(|a| u.apps.iter().any(|x| clean(x) == clean(a)))
        && q.admin.is_none_or(|a| u.admin == a)
        && q.mfa.is_none_or(|m| has_mfa(u) == m)
        && (qwords.is_empty() || {
            let mine = ws();
            qwords.iter().all(|w| mine.iter().any(|m| m.starts_with(w.as_str())))
        })
}

impl Store {
    /// Builds the search index once per store (stores from before it).
    pub(crate) fn migrate_user_search(&self) -> Result<()> {
        const DONE: &str = "user_search_v1";
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            if meta.get(DONE)?.is_some() {
                return Ok(());
            }
            let users: Vec<User> = {
                let t = tx.open_table(USERS)?;
                let mut v = vec![];
                for row in t.iter()? {
                    v.push(decode(&row?.1)?);
                }
                v
            };
            for u in &users {
                reindex(&tx, None, Some(u))?;
            }
            meta.insert(DONE, 1)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// One page of `tenant`'s users matching `q`, from the index: with a search, the range of
    /// its longest word (prefix); else the range of the most selective filter given (app, admin,
    /// MFA, status) or every user; other conditions checked on each user. Ordered by that range's
    /// key; `after` is the last key of the previous page (the cursor). A page may hold fewer than
    /// `limit` users (at most [`MAX_SCAN`] entries are read) and still have a next one.
    pub fn search_users(&self, tenant: &str, q: &UserQuery, after: Option<&str>, limit: usize) -> Result<UserPage> {
        let qwords: Vec<String> = q.q.as_deref().map(|s| words(s).collect()).unwrap_or_default();
        let (kind, value, exact) = match qwords.iter().max_by_key(|w| w.len()) {
            Some(w) => ("w", w.clone(), false),
            None => match (&q.app, q.admin, q.mfa, q.status) {
                (Some(a), ..) => ("a", clean(a), true),
                (None, Some(a), ..) => ("r", a.to_string(), true),
                (None, None, Some(m), _) => ("m", m.to_string(), true),
                (None, None, None, Some(s)) => ("s", s.as_str().to_string(), true),
                _ => ("u", String::new(), true),
            },
        };
        // Exact: `value \0` then ids; prefix: every value starting with it.
        let prefix = if exact { format!("{tenant}\0{kind}\0{value}\0") } else { format!("{tenant}\0{kind}\0{value}") };
        let start = match after {
            Some(a) if !a.starts_with(&prefix) => {
                return Err(StoreError::Invalid("the cursor does not belong to this query".into()))
            }
            Some(a) => a.to_string(),
            None => prefix.clone(),
        };
        let tx = self.db.begin_read()?;
        let index = tx.open_table(USER_SEARCH)?;
        let users = tx.open_table(USERS)?;
        let mut page = UserPage::default();
        let mut scanned = 0;
        let mut last: Option<String> = None;
        for row in index.range::<&str>((std::ops::Bound::Excluded(start.as_str()), std::ops::Bound::Unbounded))? {
            let (k, _) = row?;
            let key = k.as_str();
            if !key.starts_with(&prefix) {
                last = None;
                break;
            }
            scanned += 1;
            last = Some(key.to_string());
            let Some((word, id)) = key[prefix.len()..].rsplit_once('\0').or(Some(("", &key[prefix.len()..]))) else {
                continue;
            };
            let Some(raw) = users.get(id)? else { continue };
            let u = self.decode_user(&raw)?;
            // A user matching by several words is listed at its first one only.
            let this_word = format!("{value}{word}");
            let listed_elsewhere =
                !exact && search_words(&u).iter().find(|w| w.starts_with(value.as_str())) != Some(&this_word);
            if listed_elsewhere || !matches(&u, q, &qwords) {
                if scanned >= MAX_SCAN {
                    break;
                }
                continue;
            }
            page.users.push(u);
            if page.users.len() >= limit || scanned >= MAX_SCAN {
                break;
            }
        }
        // Whether anything follows the last key read.
        if let Some(l) = &last {
            let more = index
                .range::<&str>((std::ops::Bound::Excluded(l.as_str()), std::ops::Bound::Unbounded))?
                .next()
                .transpose()?
                .is_some_and(|(k, _)| k.starts_with(&prefix));
            page.next = more.then(|| l.clone());
        }
        Ok(page)
    }
}
