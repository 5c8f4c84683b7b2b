//! Users: unique email, mobile and username per tenant (case-insensitive), enforced by an
//! index table updated in the same transaction as the user.

use super::*;
use crate::domain::UserStatus;

pub(super) fn index_key(tenant: &str, kind: &str, value: &str) -> String {
    format!("{tenant}\0{kind}\0{}", value.trim().to_lowercase())
}

fn index_entries(u: &User) -> Vec<(&'static str, String)> {
    let mut v = vec![];
    if let Some(e) = u.email.as_deref().filter(|s| !s.is_empty()) {
        v.push(("email", index_key(&u.tenant, "email", e)));
    }
    if let Some(m) = u.mobile.as_deref().filter(|s| !s.is_empty()) {
        v.push(("mobile", index_key(&u.tenant, "mobile", m)));
    }
    if let Some(n) = u.username.as_deref().filter(|s| !s.is_empty()) {
        v.push(("username", index_key(&u.tenant, "username", n)));
    }
    v
}

impl Store {
    /// Inserts or replaces `user`; refuses an email, mobile or username another user of the
    /// tenant holds.
    pub fn put_user(&self, user: &User) -> Result<()> {
        let tx = self.db.begin_write()?;
        self.put_user_in(&tx, user)?;
        tx.commit()?;
        Ok(())
    }

    /// [`Store::put_user`] for many users in one write transaction (all or none): bulk loads
    /// and the search benchmark.
    pub fn put_users(&self, users: &[User]) -> Result<()> {
        let tx = self.db.begin_write()?;
        for u in users {
            self.put_user_in(&tx, u)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// [`Store::put_users`] for users read before this transaction (an import's chunk): each
    /// must still be as it was read (`None`: still absent), else nothing is written and the
    /// answer is a conflict, so that a change made meanwhile (a disable, a password reset, a
    /// used recovery code) is never overwritten by the copy read before it.
    pub fn put_users_as_read(&self, users: &[(User, Option<User>)]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let stored = tx.open_table(USERS)?;
            for (user, read) in users {
                let now: Option<User> = stored.get(user.id.as_str())?.map(|v| decode(&v)).transpose()?;
                if now.as_ref() != read.as_ref() {
                    return Err(StoreError::Conflict(format!("user {} changed since it was read", user.id)));
                }
            }
        }
        for (user, _) in users {
            self.put_user_in(&tx, user)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn put_user_in(&self, tx: &WriteTx, user: &User) -> Result<()> {
        let mut users = tx.open_table(USERS)?;
        let mut index = tx.open_table(USER_INDEX)?;
        for (kind, key) in index_entries(user) {
            if let Some(owner) = index.get(key.as_str())? {
                if owner != user.id {
                    return Err(StoreError::Conflict(format!(
                        "another user of tenant {} has this {kind}",
                        user.tenant
                    )));
                }
            }
        }
        let previous: Option<User> = users.get(user.id.as_str())?.map(|v| decode(&v)).transpose()?;
        super::user_search::reindex(tx, previous.as_ref(), Some(user))?;
        if let Some(p) = &previous {
            for (_, key) in index_entries(p) {
                index.remove(key.as_str())?;
            }
        }
        for (_, key) in index_entries(user) {
            index.insert(key.as_str(), user.id.as_str())?;
        }
        users.insert(user.id.as_str(), self.encode_user(user)?.as_slice())?;
        super::apps::reindex_user(tx, previous.as_ref(), Some(user))?;
        Ok(())
    }

    /// Reads, changes and writes one user in a single write transaction, like
    /// [`Store::try_update_user`], where `f` may change index fields too (email, mobile,
    /// username): their uniqueness is checked and the indexes updated in that transaction (a
    /// taken one: `StoreError::Conflict`, nothing written). Nothing is written when `f` leaves
    /// the user as it was. Answers `f`'s value and the user as stored.
    pub fn try_change_user<T, E>(
        &self,
        id: &str,
        f: impl FnOnce(&mut User) -> std::result::Result<T, E>,
    ) -> Result<std::result::Result<(T, User), E>> {
        let tx = self.db.begin_write()?;
        let current: Option<User> = tx.open_table(USERS)?.get(id)?.map(|v| self.decode_user(&v)).transpose()?;
        let Some(mut user) = current else { return Err(StoreError::NotFound(format!("no user {id}"))) };
        let before = user.clone();
        let v = match f(&mut user) {
            Ok(v) => v,
            Err(e) => {
                tx.abort()?;
                return Ok(Err(e));
            }
        };
        if user == before {
            tx.abort()?;
            return Ok(Ok((v, user)));
        }
        user.id = before.id;
        self.put_user_in(&tx, &user)?;
        tx.commit()?;
        Ok(Ok((v, user)))
    }

    /// Reads, changes and writes one user in a single write transaction, so concurrent changes
    /// (two uses of one code) are serialised. `f` may refuse (its error is returned, nothing is
    /// written). Index fields (email, mobile, username) must not be changed here.
    pub fn update_user<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut User) -> std::result::Result<T, String>,
    ) -> Result<std::result::Result<T, String>> {
        self.try_update_user(id, f)
    }

    /// [`Store::update_user`] with the caller's own (typed) refusal: `f`'s `Err` aborts the write.
    pub fn try_update_user<T, E>(
        &self,
        id: &str,
        f: impl FnOnce(&mut User) -> std::result::Result<T, E>,
    ) -> Result<std::result::Result<T, E>> {
        let tx = self.db.begin_write()?;
        let out = {
            let mut users = tx.open_table(USERS)?;
            let current: Option<User> = users.get(id)?.map(|v| self.decode_user(&v)).transpose()?;
            let Some(mut user) = current else { return Err(StoreError::NotFound(format!("no user {id}"))) };
            let before = user.clone();
            match f(&mut user) {
                Ok(v) => {
                    super::user_search::reindex(&tx, Some(&before), Some(&user))?;
                    users.insert(id, self.encode_user(&user)?.as_slice())?;
                    super::apps::reindex_user(&tx, Some(&before), Some(&user))?;
                    Ok(v)
                }
                Err(e) => Err(e),
            }
        };
        if out.is_ok() {
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(out)
    }

    pub fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(self.get_json(USERS, id)?.map(|u| self.open_user(u)))
    }

    /// The user holding `value` as its `kind` (`email`, `mobile`, `username`), whether or not
    /// they proved the address: for uniqueness, registration and `user import` to see who holds
    /// it. Never for signing in (see [`Store::find_user`]).
    pub fn address_holder(&self, tenant: &str, kind: &str, value: &str) -> Result<Option<User>> {
        let tx = self.db.begin_read()?;
        let index = tx.open_table(USER_INDEX)?;
        let users = tx.open_table(USERS)?;
        let Some(id) = index.get(index_key(tenant, kind, value).as_str())? else { return Ok(None) };
        let user = users.get(id.as_str())?;
        user.map(|u| self.decode_user(&u)).transpose()
    }

    /// Finds a user of `tenant` by username, or by an e-mail or mobile the user proved: an
    /// address nobody verified never matches an account.
    pub fn find_user(&self, tenant: &str, identifier: &str) -> Result<Option<User>> {
        for kind in ["email", "mobile", "username"] {
            if let Some(u) = self.address_holder(tenant, kind, identifier)? {
                let proved = match kind {
                    "email" => u.email_verified,
                    "mobile" => u.mobile_verified,
                    _ => true,
                };
                if proved {
                    return Ok(Some(u));
                }
            }
        }
        Ok(None)
    }

    /// Stores a new pending registration in ONE write transaction, so a registration costs
    /// the same single commit whether its address is new or taken (a decoy code): removes the
    /// stale pending registrations `replaces` (and their index entries), stores `user` (refusing
    /// an address, mobile or username another user holds) and its codes with their messages.
    pub fn put_registration(
        &self,
        user: &User,
        replaces: &[String],
        codes: &[(String, CodeRecord, OutboxMessage)],
    ) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut users = tx.open_table(USERS)?;
            let mut index = tx.open_table(USER_INDEX)?;
            for id in replaces {
                let old: Option<User> = users.get(id.as_str())?.map(|v| decode(&v)).transpose()?;
                let Some(old) = old else { continue };
                if old.status != UserStatus::Pending {
                    return Err(StoreError::Conflict(format!("user {id} is no longer a pending registration")));
                }
                for (_, key) in index_entries(&old) {
                    index.remove(key.as_str())?;
                }
                super::user_search::reindex(&tx, Some(&old), None)?;
                users.remove(id.as_str())?;
            }
            for (kind, key) in index_entries(user) {
                if index.get(key.as_str())?.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "another user of tenant {} has this {kind}",
                        user.tenant
                    )));
                }
            }
            for (_, key) in index_entries(user) {
                index.insert(key.as_str(), user.id.as_str())?;
            }
            super::user_search::reindex(&tx, None, Some(user))?;
            users.insert(user.id.as_str(), encode(user).as_slice())?;
            let mut table = tx.open_table(CODES)?;
            for (key, rec, _) in codes {
                table.insert(key.as_str(), encode(rec).as_slice())?;
            }
            drop(table);
            for (_, _, m) in codes {
                super::codes::enqueue(&tx, m)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Once per store: users written before addresses carried a proof. An account with neither
    /// flag set was created by an operator (a self-registration always proved one source to
    /// become active), so its addresses count as verified, as operators' addresses do now.
    pub(crate) fn migrate_address_flags(&self) -> Result<()> {
        const DONE: &str = "address_flags_v1";
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            if meta.get(DONE)?.is_some() {
                return Ok(());
            }
            let mut users = tx.open_table(USERS)?;
            let mut fixed = vec![];
            for row in users.iter()? {
                let (_, v) = row?;
                let mut u: User = decode(&v)?;
                if u.status != UserStatus::Pending && !u.email_verified && !u.mobile_verified {
                    u.email_verified = u.email.is_some();
                    u.mobile_verified = u.mobile.is_some();
                    fixed.push(u);
                }
            }
            for u in &fixed {
                users.insert(u.id.as_str(), encode(u).as_slice())?;
            }
            meta.insert(DONE, 1)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Says at open which accounts hold a username from before today's username rules: those
    /// are not emitted as `Remote-User` (the verified e-mail, mobile or id is), since one such as
    /// `bob@example.com` would name another account. Read only; answers the ids.
    pub(crate) fn report_legacy_usernames(&self) -> Result<Vec<String>> {
        let ids: Vec<String> =
            self.all_json::<User>(USERS)?.into_iter().filter(|(_, u)| u.legacy_username()).map(|(id, _)| id).collect();
        if !ids.is_empty() {
            tracing::warn!(
                count = ids.len(),
                users = %ids.join(","),
                "usernames from before the username rules (a-z 0-9 . _ -, a letter, no @ or +) are not sent as Remote-User: give these accounts a new username with `gatehouse user add`"
            );
        }
        Ok(ids)
    }

    /// Deletes registrations still `pending` whose last change is before `before` (their codes
    /// expired long ago); returns how many.
    pub fn purge_pending(&self, before: u64) -> Result<usize> {
        let tx = self.db.begin_write()?;
        let mut gone = vec![];
        {
            let mut users = tx.open_table(USERS)?;
            let mut index = tx.open_table(USER_INDEX)?;
            for row in users.iter()? {
                let (k, v) = row?;
                let u: User = decode(&v)?;
                if u.status == UserStatus::Pending && u.updated_at < before {
                    gone.push((k.clone(), u));
                }
            }
            for (id, u) in &gone {
                for (_, key) in index_entries(u) {
                    index.remove(key.as_str())?;
                }
                super::user_search::reindex(&tx, Some(u), None)?;
                users.remove(id.as_str())?;
            }
        }
        tx.commit()?;
        Ok(gone.len())
    }

    /// Deletes user `id` and what is theirs, in one transaction: the record (with its TOTP and
    /// recovery codes), its address and search index entries, its sessions and their refresh
    /// tokens, its personal tokens, its one-use links and the pending codes sent to its
    /// addresses. The audit log keeps its events. Returns the user as it was (`None`: no user).
    pub fn delete_user(&self, id: &str) -> Result<Option<User>> {
        let tx = self.db.begin_write()?;
        let gone = {
            let mut users = tx.open_table(USERS)?;
            let old: Option<User> = users.get(id)?.map(|v| self.decode_user(&v)).transpose()?;
            let Some(old) = old else { return Ok(None) };
            let mut index = tx.open_table(USER_INDEX)?;
            for (_, key) in index_entries(&old) {
                if index.get(key.as_str())?.is_some_and(|owner| owner == id) {
                    index.remove(key.as_str())?;
                }
            }
            super::user_search::reindex(&tx, Some(&old), None)?;
            super::apps::reindex_user(&tx, Some(&old), None)?;
            users.remove(id)?;
            let ids: Vec<String> = {
                let t = tx.open_table(SESSIONS)?;
                let rows: Vec<(String, Vec<u8>)> = t.iter()?.collect::<Result<_>>()?;
                rows.iter()
                    .filter_map(|(_, v)| decode::<Session>(v).ok())
                    .filter(|s| s.user_id == id)
                    .map(|s| s.id)
                    .collect()
            };
            let mut index = tx.open_table(super::lookups::SESSION_IDS)?;
            for sid in &ids {
                index.remove(sid.as_str())?;
            }
            drop(index);
            remove_where(&tx, SESSIONS, |v| decode::<Session>(v).is_ok_and(|s| s.user_id == id))?;
            remove_where(&tx, REFRESH, |v| decode::<RefreshRecord>(v).is_ok_and(|r| r.user_id == id))?;
            remove_where(&tx, PERSONAL_TOKENS, |v| decode::<PersonalToken>(v).is_ok_and(|t| t.user_id == id))?;
            let mut links = tx.open_table(LINKS)?;
            let suffix = format!("\0{}\0{id}", old.tenant);
            let mut dead = vec![];
            for row in links.iter()? {
                let (k, v) = row?;
                if k.ends_with(&suffix) {
                    dead.push((k.clone(), decode::<LinkRecord>(&v).ok().map(|l| l.hash)));
                }
            }
            let mut link_index = tx.open_table(LINK_INDEX)?;
            for (k, hash) in dead {
                links.remove(k.as_str())?;
                if let Some(h) = hash {
                    if link_index.get(h.as_str())?.is_some_and(|v| v == k) {
                        link_index.remove(h.as_str())?;
                    }
                }
            }
            let mine: Vec<String> = [&old.email, &old.mobile, &old.username]
                .into_iter()
                .flatten()
                .map(|a| a.trim().to_lowercase())
                .collect();
            let mut codes = tx.open_table(CODES)?;
            let mut dead = vec![];
            for row in codes.iter()? {
                let (k, _) = row?;
                let parts: Vec<&str> = k.split('\0').collect();
                let ours = parts.get(1) == Some(&old.tenant.as_str())
                    && parts.last().is_some_and(|who| mine.contains(&who.trim().to_lowercase()));
                if ours {
                    dead.push(k.clone());
                }
            }
            for k in dead {
                codes.remove(k.as_str())?;
            }
            old
        };
        tx.commit()?;
        Ok(Some(gone))
    }

    pub fn users(&self) -> Result<Vec<User>> {
        Ok(self.all_json::<User>(USERS)?.into_iter().map(|(_, u)| self.open_user(u)).collect())
    }
}

/// Removes the rows of `table` whose value `dead` says so.
fn remove_where(
    tx: &WriteTx,
    table: TableDefinition<&'static str, &'static [u8]>,
    dead: impl Fn(&[u8]) -> bool,
) -> Result<()> {
    let mut t = tx.open_table(table)?;
    let mut keys = vec![];
    for row in t.iter()? {
        let (k, v) = row?;
        if dead(&v) {
            keys.push(k.clone());
        }
    }
    for k in keys {
        t.remove(k.as_str())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    #[test]
    fn stores_from_before_address_proofs_count_operators_addresses_as_proved() {
        crate::store::testing::each_backend_reopening(|b| {
            let user = |id: &str, status: UserStatus, email_verified: bool, mobile_verified: bool| User {
                id: id.into(),
                tenant: "t".into(),
                email: Some(format!("{id}@example.com")),
                mobile: Some(format!("+1555000{:04}", id.len())),
                status,
                email_verified,
                mobile_verified,
                ..Default::default()
            };
            {
                let store = b.open();
                // As an older build left them: the marker absent.
                let tx = store.db.begin_write().unwrap();
                tx.open_table(META).unwrap().remove("address_flags_v1").unwrap();
                tx.commit().unwrap();
                store.put_user(&user("op", UserStatus::Active, false, false)).unwrap();
                store.put_user(&user("selfreg", UserStatus::Active, false, true)).unwrap();
                store.put_user(&user("pend", UserStatus::Pending, false, false)).unwrap();
            }
            let store = b.open();
            let get = |id: &str| store.user(id).unwrap().unwrap();
            assert!(get("op").email_verified && get("op").mobile_verified);
            assert!(!get("selfreg").email_verified && get("selfreg").mobile_verified);
            assert!(!get("pend").email_verified && !get("pend").mobile_verified);
            // Once only: a later unproved address stays unproved.
            store.put_user(&user("later", UserStatus::Active, false, false)).unwrap();
            drop(store);
            let store = b.open();
            assert!(!store.user("later").unwrap().unwrap().email_verified);
        });
    }

    /// A username stored by an older build (`bob@example.com`, `+15550001234`, an id's
    /// shape) would give its account another account's `Remote-User`: it is not emitted, and
    /// the store names such accounts at open.
    #[test]
    fn legacy_usernames_never_become_another_accounts_remote_user() {
        each_backend(|store| {
            let victim = User {
                id: "v".into(),
                tenant: "t".into(),
                email: Some("bob@example.com".into()),
                email_verified: true,
                status: UserStatus::Active,
                ..Default::default()
            };
            let legacy = |id: &str, name: &str| User {
                id: id.into(),
                tenant: "t".into(),
                username: Some(name.into()),
                status: UserStatus::Active,
                ..Default::default()
            };
            store.put_user(&victim).unwrap();
            // As an older build stored them (put_user does not judge usernames).
            store.put_user(&legacy("l1", "bob@example.com")).unwrap();
            store.put_user(&legacy("l2", "0000000a-0000-0000-0000-00000000000b")).unwrap();
            store.put_user(&legacy("l3", "Carol")).unwrap();
            let get = |id: &str| store.user(id).unwrap().unwrap();
            assert_eq!(get("v").display_user(), "bob@example.com");
            assert_eq!(get("l1").display_user(), "l1", "not the victim's Remote-User");
            assert_eq!(get("l3").display_user(), "Carol", "a valid name in another case stays");
            // Still found by what they type at sign-in.
            assert_eq!(store.find_user("t", "bob@example.com").unwrap().unwrap().id, "v");
            let mut named = store.report_legacy_usernames().unwrap();
            named.sort();
            assert_eq!(named, vec!["l1".to_string(), "l2".to_string()]);
            assert_eq!(get("l2").display_user(), "l2");
        });
    }

    #[test]
    fn stale_pending_registrations_are_purged_with_their_index() {
        each_backend(|store| {
            let user = |id: &str, email: &str, status: UserStatus, at: u64| User {
                id: id.into(),
                tenant: "t".into(),
                email: Some(email.into()),
                status,
                created_at: at,
                updated_at: at,
                ..Default::default()
            };
            store.put_user(&user("old", "old@example.com", UserStatus::Pending, 100)).unwrap();
            store.put_user(&user("new", "new@example.com", UserStatus::Pending, 900)).unwrap();
            store.put_user(&user("act", "act@example.com", UserStatus::Active, 100)).unwrap();
            assert_eq!(store.purge_pending(500).unwrap(), 1);
            assert!(store.address_holder("t", "email", "old@example.com").unwrap().is_none());
            assert!(store.address_holder("t", "email", "new@example.com").unwrap().is_some());
            assert!(store.address_holder("t", "email", "act@example.com").unwrap().is_some());
            // The address is free again.
            store.put_user(&user("again", "old@example.com", UserStatus::Pending, 1000)).unwrap();
        });
    }
}
