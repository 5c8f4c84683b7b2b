//! Apps registered through the admin API (next to the apps of `config.yaml`), and the index of
//! each app's assigned users (`User.apps`) in the order of their last change: the admin API's
//! user count and list of an app, and `GET /auth/users/sync` (a pull from the last cursor sees
//! every assigned user changed since), read from it without a scan of all users.
//!
//! The index is written in the same transaction as the user ([`reindex_user`]): an entry moves to
//! a new sequence number when the user's assignment or one of the fields an app syncs changes.

use super::*;
use crate::domain::{AppStatus, UserStatus};
use serde::Deserialize;

/// App id → [`StoredApp`].
pub(crate) const APPS: TableDefinition<&str, &[u8]> = TableDefinition::new("apps");
/// `tenant \0 app \0 seq` (20 digits) → user id: each tenant's users assigned to each app, oldest
/// change first. The tenant leads so that another tenant's users (whose `apps` may name any id)
/// never count toward, nor fill a page of, an app.
pub(crate) const APP_MEMBERS: TableDefinition<&str, &str> = TableDefinition::new("app_members");
/// User id → the sequence number of its entries in [`APP_MEMBERS`].
pub(crate) const MEMBER_SEQ: TableDefinition<&str, u64> = TableDefinition::new("app_member_seq");
/// The last sequence number given out (in `meta`).
const LAST_SEQ: &str = "app_member_seq";
/// Set once the users of an older store were indexed with the tenant in the key (in `meta`);
/// a store indexed by the former key (`app \0 seq`, marker `app_members_v1`) is re-indexed.
const INDEXED: &str = "app_members_v2";

/// An app registered through the admin API. Its id is unique across these and config apps.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct StoredApp {
    pub id: String,
    pub name: String,
    pub tenant: String,
    /// Addresses and networks (`10.0.0.0/8`) its key may call from; none: every call refused.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub status: AppStatus,
    /// Origins that may frame the hosted verification page.
    #[serde(default)]
    pub frame_origins: Vec<String>,
    pub created_at: u64,
    #[serde(default)]
    pub updated_at: u64,
}

/// The fields of a user an app syncs (`GET /auth/users/sync`): a change to any of them (or to
/// the assignment) is a change the next pull sees. Pending registrations are not synced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncFields<'a> {
    pub auth_user_id: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub mobile_number: Option<&'a str>,
    pub emp_id: Option<&'a str>,
    pub status: UserStatus,
}

impl<'a> SyncFields<'a> {
    pub fn of(u: &'a User) -> Option<SyncFields<'a>> {
        (u.status != UserStatus::Pending).then(|| SyncFields {
            auth_user_id: &u.id,
            name: u.name.as_deref(),
            email: u.verified_email(),
            mobile_number: u.verified_mobile(),
            emp_id: u.emp_id.as_deref(),
            status: u.status,
        })
    }
}

fn member_key(tenant: &str, app: &str, seq: u64) -> String {
    format!("{tenant}\0{app}\0{seq:020}")
}

/// The key range of `tenant`'s entries of `app` after `after` (exclusive).
fn member_range(tenant: &str, app: &str, after: u64) -> (String, String) {
    (member_key(tenant, app, after.saturating_add(1)), format!("{tenant}\0{app}\u{1}"))
}

/// Moves `next`'s index entries to a new sequence number when its assignment or synced fields
/// differ from `prev`'s (either may be absent: a new or a deleted user). Call in the write
/// transaction that writes the user.
pub(crate) fn reindex_user(tx: &WriteTx, prev: Option<&User>, next: Option<&User>) -> Result<()> {
    fn view(u: Option<&User>) -> Option<(SyncFields<'_>, &Vec<String>)> {
        u.and_then(|u| SyncFields::of(u).map(|f| (f, &u.apps)))
    }
    let (before, after) = (view(prev), view(next));
    if before == after {
        return Ok(());
    }
    let Some(id) = next.or(prev).map(|u| u.id.as_str()) else { return Ok(()) };
    let mut members = tx.open_table(APP_MEMBERS)?;
    let mut seqs = tx.open_table(MEMBER_SEQ)?;
    let old = seqs.remove(id)?;
    if let (Some(seq), Some(p)) = (old, prev) {
        for app in &p.apps {
            members.remove(member_key(&p.tenant, app, seq).as_str())?;
        }
    }
    let Some((_, apps)) = after.filter(|(_, apps)| !apps.is_empty()) else { return Ok(()) };
    let tenant = next.map(|u| u.tenant.as_str()).unwrap_or_default();
    let mut meta = tx.open_table(META)?;
    let seq = meta.get(LAST_SEQ)?.unwrap_or(0) + 1;
    meta.insert(LAST_SEQ, seq)?;
    for app in apps {
        members.insert(member_key(tenant, app, seq).as_str(), id)?;
    }
    seqs.insert(id, seq)?;
    Ok(())
}

impl Store {
    pub fn stored_app(&self, id: &str) -> Result<Option<StoredApp>> {
        self.get_json(APPS, id)
    }

    /// Every stored app, by id.
    pub fn stored_apps(&self) -> Result<Vec<StoredApp>> {
        Ok(self.all_json::<StoredApp>(APPS)?.into_iter().map(|(_, a)| a).collect())
    }

    /// Stores a new app; refuses an id already stored. Keys left under its id by a former app
    /// (a config app since removed) are deleted in the same transaction, so none of them
    /// authenticates as the new app; answers how many.
    pub fn create_app(&self, app: &StoredApp) -> Result<usize> {
        let tx = self.db.begin_write()?;
        let removed = {
            let mut t = tx.open_table(APPS)?;
            if t.get(app.id.as_str())?.is_some() {
                return Err(StoreError::Conflict(format!("an app {} exists", app.id)));
            }
            t.insert(app.id.as_str(), encode(app).as_slice())?;
            let mut keys = tx.open_table(APP_KEYS)?;
            let mut removed = 0;
            keys.retain(|_, v| {
                let keep = decode::<AppKey>(v).map_or(true, |k| k.app != app.id);
                removed += usize::from(!keep);
                keep
            })?;
            removed
        };
        tx.commit()?;
        Ok(removed)
    }

    /// Changes a stored app in one write transaction; `Ok(None)` when there is none.
    pub fn update_app(&self, id: &str, f: impl FnOnce(&mut StoredApp)) -> Result<Option<StoredApp>> {
        let tx = self.db.begin_write()?;
        let out = {
            let mut t = tx.open_table(APPS)?;
            let current: Option<StoredApp> = t.get(id)?.map(|v| decode(&v)).transpose()?;
            match current {
                Some(mut a) => {
                    f(&mut a);
                    t.insert(id, encode(&a).as_slice())?;
                    Some(a)
                }
                None => None,
            }
        };
        tx.commit()?;
        Ok(out)
    }

    /// How many users of `tenant` are assigned to `app`.
    pub fn app_user_count(&self, tenant: &str, app: &str) -> Result<usize> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(APP_MEMBERS)?;
        let (from, to) = member_range(tenant, app, 0);
        Ok(t.range(from.as_str()..to.as_str())?.count())
    }

    /// Up to `limit` users of `tenant` assigned to `app` whose last change is after sequence
    /// number `after`, oldest change first, each with its sequence number (the next page's cursor).
    pub fn app_members(&self, tenant: &str, app: &str, after: u64, limit: usize) -> Result<Vec<(u64, User)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(APP_MEMBERS)?;
        let users = tx.open_table(USERS)?;
        let (from, to) = member_range(tenant, app, after);
        let mut out = vec![];
        for row in t.range(from.as_str()..to.as_str())?.take(limit) {
            let (k, id) = row?;
            let seq = k.rsplit('\0').next().and_then(|s| s.parse().ok()).unwrap_or(0);
            if let Some(u) = users.get(id.as_str())? {
                out.push((seq, self.decode_user(&u)?));
            }
        }
        Ok(out)
    }

    /// Assigns (or, with `assign` false, unassigns) `app` to each of `ids`, all in one write
    /// transaction: all or nothing. Answers the ids that do not exist in `tenant` (then nothing is
    /// written) or, when all exist, how many changed.
    pub fn set_assignment(&self, tenant: &str, app: &str, ids: &[String], assign: bool, now: u64) -> Result<Assigned> {
        let tx = self.db.begin_write()?;
        let mut changed = vec![];
        {
            let mut users = tx.open_table(USERS)?;
            let mut found = Vec::with_capacity(ids.len());
            let mut missing = vec![];
            for id in ids {
                let u: Option<User> = users.get(id.as_str())?.map(|v| decode(&v)).transpose()?;
                match u.filter(|u| u.tenant == tenant) {
                    Some(u) => found.push(u),
                    None => missing.push(id.clone()),
                }
            }
            if !missing.is_empty() {
                return Ok(Assigned::Missing(missing));
            }
            for prev in found {
                let has = prev.apps.iter().any(|a| a == app);
                if has == assign {
                    continue;
                }
                let mut next = prev.clone();
                if assign {
                    next.apps.push(app.to_string());
                } else {
                    next.apps.retain(|a| a != app);
                }
                next.updated_at = now;
                // Stored bytes as read (a sealed seed stays sealed): only `apps` changes.
                users.insert(next.id.as_str(), encode(&next).as_slice())?;
                super::user_search::reindex(&tx, Some(&prev), Some(&next))?;
                reindex_user(&tx, Some(&prev), Some(&next))?;
                changed.push(next);
            }
        }
        tx.commit()?;
        Ok(Assigned::Changed(changed))
    }

    /// Once per store: indexes the assigned users of a store written before the index (or its
    /// tenant-led key) existed. Entries get new sequence numbers (after every one given out), so
    /// each app's next sync pull sees all its users once.
    pub(crate) fn index_app_members(&self) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            if meta.get(INDEXED)?.is_some() {
                return Ok(());
            }
            meta.insert(INDEXED, 1)?;
            meta.remove("app_members_v1")?;
            drop(meta);
            tx.open_table(APP_MEMBERS)?.retain(|_, _| false)?;
            tx.open_table(MEMBER_SEQ)?.retain(|_, _| false)?;
            let users = tx.open_table(USERS)?;
            let all: Vec<User> = users.iter()?.map(|r| r.and_then(|(_, v)| decode(&v))).collect::<Result<_>>()?;
            drop(users);
            for u in &all {
                reindex_user(&tx, None, Some(u))?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// What [`Store::set_assignment`] did.
#[derive(Debug, PartialEq)]
pub enum Assigned {
    /// Every user existed; these were changed (the others already were as asked).
    Changed(Vec<User>),
    /// These ids name no user of the tenant: nothing was written.
    Missing(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    fn user(id: &str, apps: &[&str]) -> User {
        User {
            id: id.into(),
            tenant: "t".into(),
            email: Some(format!("{id}@example.com")),
            email_verified: true,
            status: UserStatus::Active,
            apps: apps.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }

    fn ids(v: &[(u64, User)]) -> Vec<&str> {
        v.iter().map(|(_, u)| u.id.as_str()).collect()
    }

    #[test]
    fn members_follow_assignment_and_synced_changes_only() {
        each_backend(|store| {
            store.put_user(&user("a", &["wiki"])).unwrap();
            store.put_user(&user("b", &["wiki", "crm"])).unwrap();
            store.put_user(&user("c", &[])).unwrap();
            assert_eq!(ids(&store.app_members("t", "wiki", 0, 10).unwrap()), ["a", "b"]);
            assert_eq!(store.app_user_count("t", "crm").unwrap(), 1);
            let last = store.app_members("t", "wiki", 0, 10).unwrap().last().unwrap().0;
            assert!(store.app_members("t", "wiki", last, 10).unwrap().is_empty());

            // A field no app syncs: not a change.
            store
                .update_user("a", |u| {
                    u.mfa_by_code = true;
                    Ok(())
                })
                .unwrap()
                .unwrap();
            assert!(store.app_members("t", "wiki", last, 10).unwrap().is_empty());
            // A synced field: seen after the last cursor, once.
            store
                .update_user("a", |u| {
                    u.name = Some("Ann".into());
                    Ok(())
                })
                .unwrap()
                .unwrap();
            assert_eq!(ids(&store.app_members("t", "wiki", last, 10).unwrap()), ["a"]);
            assert_eq!(ids(&store.app_members("t", "wiki", 0, 10).unwrap()), ["b", "a"]);
            assert_eq!(store.app_members("t", "wiki", 0, 1).unwrap().len(), 1);

            // Bulk assignment: all or nothing.
            let missing = store.set_assignment("t", "crm", &["a".into(), "zz".into()], true, 5).unwrap();
            assert_eq!(missing, Assigned::Missing(vec!["zz".into()]));
            assert_eq!(store.app_user_count("t", "crm").unwrap(), 1);
            let changed = store.set_assignment("t", "crm", &["a".into(), "c".into(), "b".into()], true, 5).unwrap();
            assert!(matches!(changed, Assigned::Changed(v) if v.len() == 2));
            assert_eq!(store.app_user_count("t", "crm").unwrap(), 3);
            assert_eq!(store.user("c").unwrap().unwrap().apps, ["crm"]);
            let changed = store.set_assignment("t", "crm", &["b".into()], false, 6).unwrap();
            assert!(matches!(changed, Assigned::Changed(v) if v.len() == 1 && v[0].apps == ["wiki"]));
            assert_eq!(ids(&store.app_members("t", "crm", 0, 10).unwrap()), ["a", "c"]);
            assert_eq!(ids(&store.app_members("t", "wiki", 0, 10).unwrap()), ["a", "b"], "b's change moved it");
            // The users list's `app` filter sees the assignment (same transaction).
            let q = UserQuery { app: Some("crm".into()), ..Default::default() };
            let found: Vec<String> =
                store.search_users("t", &q, None, 10).unwrap().users.into_iter().map(|u| u.id).collect();
            assert_eq!(found.len(), 2);
            assert!(!found.contains(&"b".to_string()));
            // A deleted user leaves every app.
            store.delete_user("a").unwrap().unwrap();
            assert_eq!(ids(&store.app_members("t", "crm", 0, 10).unwrap()), ["c"]);
            // Another tenant's user is not found.
            assert!(matches!(store.set_assignment("u", "crm", &["c".into()], true, 7).unwrap(), Assigned::Missing(_)));
        });
    }

    #[test]
    fn users_of_an_older_store_are_indexed_once_at_open() {
        crate::store::testing::each_backend_reopening(|b| {
            {
                let store = b.open();
                store.put_user(&user("a", &["wiki"])).unwrap();
                // As an older build left it: the index keyed `app \0 seq`, without the tenant.
                let tx = store.db.begin_write().unwrap();
                let mut meta = tx.open_table(META).unwrap();
                meta.remove(INDEXED).unwrap();
                meta.insert("app_members_v1", 1).unwrap();
                drop(meta);
                tx.delete_table(APP_MEMBERS).unwrap();
                tx.open_table(APP_MEMBERS).unwrap().insert("wiki\u{0}00000000000000000001", "a").unwrap();
                tx.commit().unwrap();
            }
            let store = b.open();
            let page = store.app_members("t", "wiki", 0, 10).unwrap();
            assert_eq!(ids(&page), ["a"]);
            assert!(page[0].0 > 1, "a new sequence number: the next pull sees the user again");
            let tx = store.db.begin_read().unwrap();
            let keys: Vec<String> = tx.open_table(APP_MEMBERS).unwrap().iter().unwrap().map(|r| r.unwrap().0).collect();
            assert_eq!(keys.len(), 1, "the former entries are gone: {keys:?}");
            assert!(keys[0].starts_with("t\u{0}wiki\u{0}"));
        });
    }

    #[test]
    fn another_tenants_users_neither_count_nor_fill_pages() {
        each_backend(|store| {
            store.put_user(&user("mine", &["crm"])).unwrap();
            // Written directly: users of t2 whose `apps` name t's `crm`, changed after `mine`.
            for i in 0..5 {
                store.put_user(&User { tenant: "t2".into(), ..user(&format!("theirs{i}"), &["crm"]) }).unwrap();
            }
            store.put_user(&user("later", &["crm"])).unwrap();
            assert_eq!(store.app_user_count("t", "crm").unwrap(), 2);
            assert_eq!(store.app_user_count("t2", "crm").unwrap(), 5);
            let first = store.app_members("t", "crm", 0, 1).unwrap();
            assert_eq!(ids(&first), ["mine"]);
            assert_eq!(ids(&store.app_members("t", "crm", first[0].0, 1).unwrap()), ["later"], "no empty page between");
            // Unassigning in t leaves t2's entries alone.
            store.set_assignment("t", "crm", &["mine".into()], false, 9).unwrap();
            assert_eq!((store.app_user_count("t", "crm").unwrap(), store.app_user_count("t2", "crm").unwrap()), (1, 5));
        });
    }

    #[test]
    fn stored_apps_are_created_once_and_changed() {
        each_backend(|store| {
            let app = StoredApp { id: "crm".into(), name: "CRM".into(), tenant: "t".into(), ..Default::default() };
            // A key a former (config) app `crm` of another tenant left behind goes with the new app.
            let leftover = AppKey {
                id: "0123456789ab".into(),
                app: "crm".into(),
                tenant: "u".into(),
                source: Some(crate::domain::AppSource::Config),
                hash: "h".into(),
                created_at: 1,
                last_used: None,
            };
            store.put_app_key(&leftover).unwrap();
            store.put_app_key(&AppKey { id: "ba9876543210".into(), app: "wiki".into(), ..leftover.clone() }).unwrap();
            assert_eq!(store.create_app(&app).unwrap(), 1);
            assert!(store.app_keys("crm").unwrap().is_empty());
            assert_eq!(store.app_keys("wiki").unwrap().len(), 1, "other apps' keys stay");
            assert!(matches!(store.create_app(&app), Err(StoreError::Conflict(_))));
            let changed = store.update_app("crm", |a| a.status = AppStatus::Disabled).unwrap().unwrap();
            assert_eq!(store.stored_app("crm").unwrap().unwrap(), changed);
            assert!(store.update_app("nope", |_| ()).unwrap().is_none());
            assert_eq!(store.stored_apps().unwrap().len(), 1);
        });
    }
}
