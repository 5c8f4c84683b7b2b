//! A user's proved addresses: marking the address a proof was for as verified, or replacing
//! the address with the proved new one (its unique index entry with it), in one transaction.
//! A proof is for one exact value: it never marks or replaces anything once the account's
//! address is no longer the one it was sent for (`Proved::Stale`).

use super::users::index_key;
use super::*;
use crate::domain::UserStatus;

/// Which address of a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressField {
    Email,
    Mobile,
}

impl AddressField {
    pub const fn as_str(self) -> &'static str {
        match self {
            AddressField::Email => "email",
            AddressField::Mobile => "mobile",
        }
    }

    /// The user's value of this address, and whether it is verified.
    pub fn of(self, u: &User) -> (Option<&str>, bool) {
        match self {
            AddressField::Email => (u.email.as_deref(), u.email_verified),
            AddressField::Mobile => (u.mobile.as_deref(), u.mobile_verified),
        }
    }

    /// Sets the value and its flag together: a value never inherits another value's proof.
    pub fn set(self, u: &mut User, value: Option<String>, verified: bool) {
        match self {
            AddressField::Email => (u.email, u.email_verified) = (value, verified),
            AddressField::Mobile => (u.mobile, u.mobile_verified) = (value, verified),
        }
    }
}

/// What a proof did.
#[derive(Debug, Clone, PartialEq)]
pub enum Proved {
    /// The account's address was this value: it is now verified.
    Verified(User),
    /// The account's address (`previous`, if any) was replaced by the proved value.
    Changed { user: User, previous: Option<String> },
    /// Another account holds the value now: nothing changed.
    Taken,
    /// The account is gone, inactive or of another tenant: nothing changed.
    Stale,
}

/// Whether two address values are the same (addresses compare case-insensitively, as the index).
pub fn same_address(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Store {
    /// Applies a proof of `value` as the `field` of user `id` of `tenant`: marks it verified when
    /// it is the account's address, or replaces the account's address with it (moving the
    /// unique index entry) when it is free.
    pub fn prove_address(&self, tenant: &str, id: &str, field: AddressField, value: &str, now: u64) -> Result<Proved> {
        let tx = self.db.begin_write()?;
        let out = {
            let mut users = tx.open_table(USERS)?;
            let mut index = tx.open_table(USER_INDEX)?;
            let current: Option<User> = users.get(id)?.map(|v| self.decode_user(&v)).transpose()?;
            let Some(mut user) = current.filter(|u| u.status == UserStatus::Active && u.tenant == tenant) else {
                return Ok(Proved::Stale);
            };
            let previous = field.of(&user).0.map(str::to_string);
            let new_key = index_key(tenant, field.as_str(), value);
            let before = user.clone();
            let out = match previous.as_deref() {
                Some(p) if same_address(p, value) => {
                    field.set(&mut user, previous.clone(), true);
                    user.updated_at = now;
                    Proved::Verified(user.clone())
                }
                _ if index.get(new_key.as_str())?.is_some_and(|owner| owner != id) => Proved::Taken,
                _ => {
                    if let Some(p) = previous.as_deref() {
                        index.remove(index_key(tenant, field.as_str(), p).as_str())?;
                    }
                    index.insert(new_key.as_str(), id)?;
                    field.set(&mut user, Some(value.to_string()), true);
                    user.updated_at = now;
                    Proved::Changed { user: user.clone(), previous }
                }
            };
            if let Proved::Verified(u) | Proved::Changed { user: u, .. } = &out {
                super::user_search::reindex(&tx, Some(&before), Some(u))?;
                users.insert(id, self.encode_user(u)?.as_slice())?;
                super::apps::reindex_user(&tx, Some(&before), Some(u))?;
            }
            out
        };
        match out {
            Proved::Verified(_) | Proved::Changed { .. } => tx.commit()?,
            _ => tx.abort()?,
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    fn user(id: &str, email: &str, verified: bool) -> User {
        User {
            id: id.into(),
            tenant: "t".into(),
            email: Some(email.into()),
            email_verified: verified,
            status: UserStatus::Active,
            ..Default::default()
        }
    }

    #[test]
    fn a_proof_verifies_its_own_value_or_moves_the_address_when_free() {
        each_backend(|s| {
            s.put_user(&user("u1", "old@example.com", false)).unwrap();
            s.put_user(&user("u2", "taken@example.com", false)).unwrap();
            let f = AddressField::Email;
            // Its own value (case aside): verified, the value kept.
            let Proved::Verified(u) = s.prove_address("t", "u1", f, "OLD@example.com", 5).unwrap() else { panic!() };
            assert_eq!((u.email.as_deref(), u.email_verified, u.updated_at), (Some("old@example.com"), true, 5));
            // Another account's (even unproved): nothing changes.
            assert_eq!(s.prove_address("t", "u1", f, "taken@example.com", 6).unwrap(), Proved::Taken);
            assert_eq!(s.user("u1").unwrap().unwrap().email.as_deref(), Some("old@example.com"));
            // A free one: replaces, the index follows (the old value is free, the new one held).
            let Proved::Changed { user, previous } = s.prove_address("t", "u1", f, "new@example.com", 7).unwrap()
            else {
                panic!()
            };
            assert_eq!(
                (previous.as_deref(), user.email.as_deref()),
                (Some("old@example.com"), Some("new@example.com"))
            );
            assert!(s.address_holder("t", "email", "old@example.com").unwrap().is_none());
            assert_eq!(s.find_user("t", "new@example.com").unwrap().unwrap().id, "u1");
            // Another tenant, or an account no longer active: nothing.
            assert_eq!(s.prove_address("x", "u1", f, "n2@example.com", 8).unwrap(), Proved::Stale);
            s.update_user("u1", |u| {
                u.status = UserStatus::Disabled;
                Ok(())
            })
            .unwrap()
            .unwrap();
            assert_eq!(s.prove_address("t", "u1", f, "n2@example.com", 8).unwrap(), Proved::Stale);
            assert_eq!(s.prove_address("t", "nobody", f, "n2@example.com", 8).unwrap(), Proved::Stale);
        });
    }

    #[test]
    fn setting_a_value_sets_its_flag_with_it() {
        let mut u = user("u1", "a@example.com", true);
        AddressField::Email.set(&mut u, Some("b@example.com".into()), false);
        assert_eq!(u.verified_email(), None);
        AddressField::Mobile.set(&mut u, Some("+15550001".into()), true);
        assert_eq!(u.verified_mobile(), Some("+15550001"));
    }
}
