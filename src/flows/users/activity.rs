//! How many live sessions and devices each user of a page has (the console's users table):
//! one pass over the sessions for the whole page, not one per user.

use super::{Directory, UserError};
use crate::sessions::Listed;
use std::collections::{HashMap, HashSet};

/// A user's live sessions and devices (the distinct user agents of those sessions, as the
/// admin API's `devices` lists them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    pub sessions: usize,
    pub devices: usize,
}

impl Activity {
    fn of(listed: &[Listed]) -> Activity {
        let agents: HashSet<Option<&str>> = listed.iter().map(|l| l.session.user_agent.as_deref()).collect();
        Activity { sessions: listed.len(), devices: agents.len() }
    }
}

impl<'a> Directory<'a> {
    /// The [`Activity`] of each of `user_ids` (a user with no live session is left out).
    pub fn activity(&self, user_ids: &[&str]) -> Result<HashMap<String, Activity>, UserError> {
        let asked: HashSet<&str> = user_ids.iter().copied().collect();
        let by_user: HashMap<String, Vec<Listed>> = match self.sessions {
            Some(live) => live.of_users(&asked),
            None => {
                let mut m: HashMap<String, Vec<Listed>> = HashMap::new();
                for (_, s) in self.store.sessions()? {
                    if asked.contains(s.user_id.as_str()) {
                        m.entry(s.user_id.clone()).or_default().push(Listed { last_seen: s.last_seen, session: s });
                    }
                }
                m
            }
        };
        Ok(by_user.into_iter().map(|(id, v)| (id, Activity::of(&v))).collect())
    }
}
