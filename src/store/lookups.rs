//! Point reads for a replica that keeps copies of sessions and personal tokens in memory while
//! other replicas change them (a shared PostgreSQL store): one session by the digest of its
//! secret or by its public id, one personal token by its key. With redb (one process) nothing
//! calls these on the request path: the process's own copy is complete.

use super::*;

/// Session id → SHA-256 (hex) of its secret: finds the session an access token's `sid` names.
/// Written with the session; an entry whose session is gone is harmless (the lookup finds no
/// session) and goes when the session's deletion or the next index rebuild removes it.
pub(crate) const SESSION_IDS: TableDefinition<&str, &str> = TableDefinition::new("session_ids");

/// SHA-256 (hex) of a personal token → its key (`user_id \0 token id`): finds a token created on
/// another replica a moment ago. As [`SESSION_IDS`], an entry whose token is gone is harmless.
pub(crate) const TOKEN_HASHES: TableDefinition<&str, &str> = TableDefinition::new("personal_token_hashes");

/// `meta` key set once every stored session is in [`SESSION_IDS`] and every personal token in
/// [`TOKEN_HASHES`].
const INDEXED: &str = "credential_indexes_v1";

impl Store {
    /// The stored session whose secret has SHA-256 `secret_hash` (hex).
    pub fn session(&self, secret_hash: &str) -> Result<Option<Session>> {
        self.get_json(SESSIONS, secret_hash)
    }

    /// The digest (hex) of the secret of session `id`, if indexed.
    pub fn session_hash(&self, id: &str) -> Result<Option<String>> {
        self.db.begin_read()?.open_table(SESSION_IDS)?.get(id)
    }

    /// The personal token whose SHA-256 (hex) is `hash`, if indexed.
    pub fn personal_token_by_hash(&self, hash: &str) -> Result<Option<PersonalToken>> {
        let Some(key) = self.db.begin_read()?.open_table(TOKEN_HASHES)?.get(hash)? else { return Ok(None) };
        let Some((user_id, id)) = key.split_once('\0') else { return Ok(None) };
        Ok(self.personal_token(user_id, id)?.filter(|t| t.hash == hash))
    }

    /// Token `id` of `user_id`.
    pub fn personal_token(&self, user_id: &str, id: &str) -> Result<Option<PersonalToken>> {
        self.get_json(personal_tokens::PERSONAL_TOKENS, &format!("{user_id}\0{id}"))
    }

    /// Indexes the sessions stored before [`SESSION_IDS`] existed (once).
    pub(crate) fn index_session_ids(&self) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            if meta.get(INDEXED)?.is_some() {
                return Ok(());
            }
            meta.insert(INDEXED, 1)?;
            drop(meta);
            let sessions: Vec<(String, Session)> = {
                let t = tx.open_table(SESSIONS)?;
                let rows: Vec<(String, Vec<u8>)> = t.iter()?.collect::<Result<_>>()?;
                rows.into_iter().filter_map(|(k, v)| decode::<Session>(&v).ok().map(|s| (k, s))).collect()
            };
            let mut ids = tx.open_table(SESSION_IDS)?;
            for (hash, s) in &sessions {
                ids.insert(s.id.as_str(), hash.as_str())?;
            }
            let tokens: Vec<PersonalToken> = {
                let t = tx.open_table(personal_tokens::PERSONAL_TOKENS)?;
                let rows: Vec<(String, Vec<u8>)> = t.iter()?.collect::<Result<_>>()?;
                rows.into_iter().filter_map(|(_, v)| decode::<PersonalToken>(&v).ok()).collect()
            };
            let mut hashes = tx.open_table(TOKEN_HASHES)?;
            for t in &tokens {
                hashes.insert(t.hash.as_str(), format!("{}\0{}", t.user_id, t.id).as_str())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The changes other processes make to the shared store, as they commit: `None` when the
    /// store is this process's own (redb, or the in-memory backend), so nothing changes
    /// behind its back. See [`kv::Change`].
    pub fn follow(&self) -> Option<std::sync::mpsc::Receiver<kv::Change>> {
        self.db.follow()
    }

    /// Whether other processes may share this store (a PostgreSQL store).
    pub fn is_shared(&self) -> bool {
        self.db.is_shared()
    }
}
