//! Users: unique email, mobile and username per tenant (case-insensitive), enforced by an
//! index table updated in the same transaction as the user.

use super::*;

fn index_key(tenant: &str, kind: &str, value: &str) -> String {
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
        {
            let mut users = tx.open_table(USERS)?;
            let mut index = tx.open_table(USER_INDEX)?;
            for (kind, key) in index_entries(user) {
                if let Some(owner) = index.get(key.as_str())? {
                    if owner.value() != user.id {
                        return Err(StoreError::Conflict(format!(
                            "another user of tenant {} has this {kind}",
                            user.tenant
                        )));
                    }
                }
            }
            let previous: Option<User> = users.get(user.id.as_str())?.map(|v| decode(v.value())).transpose()?;
            if let Some(p) = previous {
                for (_, key) in index_entries(&p) {
                    index.remove(key.as_str())?;
                }
            }
            for (_, key) in index_entries(user) {
                index.insert(key.as_str(), user.id.as_str())?;
            }
            users.insert(user.id.as_str(), self.encode_user(user)?.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Reads, changes and writes one user in a single write transaction, so concurrent changes
    /// (two uses of one code) are serialised. `f` may refuse (its error is returned, nothing is
    /// written). Index fields (email, mobile, username) must not be changed here.
    pub fn update_user<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut User) -> std::result::Result<T, String>,
    ) -> Result<std::result::Result<T, String>> {
        let tx = self.db.begin_write()?;
        let out = {
            let mut users = tx.open_table(USERS)?;
            let current: Option<User> = users.get(id)?.map(|v| self.decode_user(v.value())).transpose()?;
            let Some(mut user) = current else { return Err(StoreError::NotFound(format!("no user {id}"))) };
            match f(&mut user) {
                Ok(v) => {
                    users.insert(id, self.encode_user(&user)?.as_slice())?;
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

    /// Finds a user of `tenant` by email, mobile or username.
    pub fn find_user(&self, tenant: &str, identifier: &str) -> Result<Option<User>> {
        let tx = self.db.begin_read()?;
        let index = tx.open_table(USER_INDEX)?;
        let users = tx.open_table(USERS)?;
        for kind in ["email", "mobile", "username"] {
            if let Some(id) = index.get(index_key(tenant, kind, identifier).as_str())? {
                if let Some(u) = users.get(id.value())? {
                    return Ok(Some(self.decode_user(u.value())?));
                }
            }
        }
        Ok(None)
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
                let u: User = decode(v.value())?;
                if u.status == "pending" && u.updated_at < before {
                    gone.push((k.value().to_string(), u));
                }
            }
            for (id, u) in &gone {
                for (_, key) in index_entries(u) {
                    index.remove(key.as_str())?;
                }
                users.remove(id.as_str())?;
            }
        }
        tx.commit()?;
        Ok(gone.len())
    }

    pub fn users(&self) -> Result<Vec<User>> {
        Ok(self.all_json::<User>(USERS)?.into_iter().map(|(_, u)| self.open_user(u)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_pending_registrations_are_purged_with_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let user = |id: &str, email: &str, status: &str, at: u64| User {
            id: id.into(),
            tenant: "t".into(),
            email: Some(email.into()),
            status: status.into(),
            created_at: at,
            updated_at: at,
            ..Default::default()
        };
        store.put_user(&user("old", "old@example.com", "pending", 100)).unwrap();
        store.put_user(&user("new", "new@example.com", "pending", 900)).unwrap();
        store.put_user(&user("act", "act@example.com", "active", 100)).unwrap();
        assert_eq!(store.purge_pending(500).unwrap(), 1);
        assert!(store.find_user("t", "old@example.com").unwrap().is_none());
        assert!(store.find_user("t", "new@example.com").unwrap().is_some());
        assert!(store.find_user("t", "act@example.com").unwrap().is_some());
        // The address is free again.
        store.put_user(&user("again", "old@example.com", "pending", 1000)).unwrap();
    }
}
