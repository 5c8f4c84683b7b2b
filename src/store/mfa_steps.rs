//! Pending MFA steps (a sign-in between its first and second factor), so the second request may
//! land on another replica. Stored under the SHA-256 of the step token (never the token), with a
//! per-user index in creation order for the per-user cap and for ending a user's steps. What a
//! step holds is the flows' business (`data`, JSON).

use super::*;
use serde::{Deserialize, Serialize};

/// SHA-256 (hex) of the step token → step.
pub(crate) const MFA_STEPS: TableDefinition<&str, &[u8]> = TableDefinition::new("mfa_steps");
/// `user_id \0 sequence (16 hex digits)` → SHA-256 (hex) of the step token.
pub(crate) const MFA_STEPS_BY_USER: TableDefinition<&str, &str> = TableDefinition::new("mfa_steps_by_user");

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MfaStep {
    pub user_id: String,
    pub expires: u64,
    /// Its key in `mfa_steps_by_user`.
    #[serde(default)]
    pub index: String,
    pub data: serde_json::Value,
}

fn prefix(user_id: &str) -> String {
    format!("{user_id}\0")
}

impl Store {
    /// Stores a step under `digest`. The user's expired steps go, and their oldest live ones
    /// beyond `max_per_user - 1`, in the same write transaction.
    pub fn put_mfa_step(&self, digest: &str, mut step: MfaStep, max_per_user: usize, now: u64) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let seq = meta.get("mfa_step_seq")?.unwrap_or(0) + 1;
            meta.insert("mfa_step_seq", seq)?;
            let mut steps = tx.open_table(MFA_STEPS)?;
            let mut by_user = tx.open_table(MFA_STEPS_BY_USER)?;
            let p = prefix(&step.user_id);
            let mut mine = vec![];
            for row in by_user.range(p.as_str()..)? {
                let (k, d) = row?;
                if !k.starts_with(&p) {
                    break;
                }
                mine.push((k, d));
            }
            let mut alive = vec![];
            for (k, d) in mine {
                let live =
                    steps.get(d.as_str())?.map(|v| decode::<MfaStep>(&v)).transpose()?.filter(|s| s.expires > now);
                match live {
                    Some(_) => alive.push((k, d)),
                    None => {
                        by_user.remove(k.as_str())?;
                        steps.remove(d.as_str())?;
                    }
                }
            }
            let excess = (alive.len() + 1).saturating_sub(max_per_user.max(1));
            for (k, d) in alive.iter().take(excess) {
                by_user.remove(k.as_str())?;
                steps.remove(d.as_str())?;
            }
            step.index = format!("{p}{seq:016x}");
            by_user.insert(step.index.as_str(), digest)?;
            steps.insert(digest, encode(&step).as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The step under `digest`, if alive at `now`.
    pub fn mfa_step(&self, digest: &str, now: u64) -> Result<Option<MfaStep>> {
        Ok(self.get_json::<MfaStep>(MFA_STEPS, digest)?.filter(|s| s.expires > now))
    }

    /// Replaces the data of the step under `digest` (when it is still there).
    pub fn update_mfa_step(&self, digest: &str, data: serde_json::Value) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut steps = tx.open_table(MFA_STEPS)?;
            let found = steps.get(digest)?.map(|v| decode::<MfaStep>(&v)).transpose()?;
            if let Some(mut s) = found {
                s.data = data;
                steps.insert(digest, encode(&s).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes the step under `digest` and returns it if it was alive at `now`: of two
    /// replicas finishing the same step, one gets it.
    pub fn take_mfa_step(&self, digest: &str, now: u64) -> Result<Option<MfaStep>> {
        if self.get_json::<MfaStep>(MFA_STEPS, digest)?.is_none() {
            return Ok(None);
        }
        let tx = self.db.begin_write()?;
        let gone = {
            let mut steps = tx.open_table(MFA_STEPS)?;
            let gone = steps.remove(digest)?.map(|v| decode::<MfaStep>(&v)).transpose()?;
            if let Some(s) = &gone {
                tx.open_table(MFA_STEPS_BY_USER)?.remove(s.index.as_str())?;
            }
            gone
        };
        tx.commit()?;
        Ok(gone.filter(|s| s.expires > now))
    }

    /// Ends every step of `user_id`; returns how many there were.
    pub fn drop_mfa_steps(&self, user_id: &str) -> Result<usize> {
        let p = prefix(user_id);
        let tx = self.db.begin_write()?;
        let n = {
            let mut steps = tx.open_table(MFA_STEPS)?;
            let mut by_user = tx.open_table(MFA_STEPS_BY_USER)?;
            let mut mine = vec![];
            for row in by_user.range(p.as_str()..)? {
                let (k, d) = row?;
                if !k.starts_with(&p) {
                    break;
                }
                mine.push((k, d));
            }
            for (k, d) in &mine {
                by_user.remove(k.as_str())?;
                steps.remove(d.as_str())?;
            }
            mine.len()
        };
        tx.commit()?;
        Ok(n)
    }

    /// Removes the steps expired at `now` (housekeeping); returns how many.
    pub fn purge_mfa_steps(&self, now: u64) -> Result<usize> {
        let dead: Vec<(String, MfaStep)> =
            self.all_json::<MfaStep>(MFA_STEPS)?.into_iter().filter(|(_, s)| s.expires <= now).collect();
        if dead.is_empty() {
            return Ok(0);
        }
        let tx = self.db.begin_write()?;
        {
            let mut steps = tx.open_table(MFA_STEPS)?;
            let mut by_user = tx.open_table(MFA_STEPS_BY_USER)?;
            for (d, s) in &dead {
                steps.remove(d.as_str())?;
                by_user.remove(s.index.as_str())?;
            }
        }
        tx.commit()?;
        Ok(dead.len())
    }

    /// Steps stored (live or not yet purged).
    pub fn mfa_steps_len(&self) -> Result<u64> {
        let tx = self.db.begin_read()?;
        tx.open_table(MFA_STEPS)?.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    fn step(user: &str, expires: u64) -> MfaStep {
        MfaStep { user_id: user.into(), expires, index: String::new(), data: serde_json::json!({"n": 1}) }
    }

    #[test]
    fn steps_are_capped_per_user_taken_once_and_purged() {
        each_backend(|s| {
            for i in 0..7 {
                s.put_mfa_step(&format!("d{i}"), step("u1", 400), 5, 100).unwrap();
            }
            s.put_mfa_step("other", step("u2", 400), 5, 100).unwrap();
            let alive: Vec<bool> = (0..7).map(|i| s.mfa_step(&format!("d{i}"), 100).unwrap().is_some()).collect();
            assert_eq!(alive, [false, false, true, true, true, true, true], "the two oldest ended");
            assert!(s.mfa_step("d6", 400).unwrap().is_none(), "dead at its expiry");
            assert!(s.take_mfa_step("d6", 399).unwrap().is_some());
            assert!(s.take_mfa_step("d6", 399).unwrap().is_none(), "one use");
            s.update_mfa_step("d5", serde_json::json!({"n": 2})).unwrap();
            assert_eq!(s.mfa_step("d5", 100).unwrap().unwrap().data["n"], 2);
            assert_eq!(s.drop_mfa_steps("u1").unwrap(), 4);
            assert_eq!(s.mfa_steps_len().unwrap(), 1);
            assert_eq!(s.purge_mfa_steps(399).unwrap(), 0);
            assert_eq!(s.purge_mfa_steps(400).unwrap(), 1);
            assert_eq!(s.mfa_steps_len().unwrap(), 0);
            let tx = s.db.begin_read().unwrap();
            assert!(tx.open_table(MFA_STEPS_BY_USER).unwrap().is_empty().unwrap(), "no index left behind");
        });
    }
}
