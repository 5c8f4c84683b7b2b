//! The types a table's keys and values may have, and their bytes for byte-level backends.
//!
//! Each type is one of redb's own (`&str`, `u64`, `(&str, u64)`, `&[u8]`, `()`), so the redb
//! backend opens its tables with exactly the definitions it always had (same file format).
//! Keys are encoded so that the byte order (memcmp, as in PostgreSQL's `bytea` and in a
//! `BTreeMap<Vec<u8>, _>`) is redb's order of the typed keys:
//!
//! * `&str`, `&[u8]`: their bytes (redb compares them bytewise).
//! * `u64`: 8 bytes big-endian.
//! * `(&str, u64)`: the string with every `0x00` written `0x00 0xFF`, then `0x00 0x01`, then the
//!   number as above. A string that ends sorts before one that goes on (with `\0` or anything),
//!   as redb orders the tuple: by the string, then by the number.
//!
//! Values: `&[u8]` and `&str` as they are, `u64` 8 bytes big-endian, `()` nothing.

use super::super::{Result, StoreError};

fn corrupt(what: &str) -> StoreError {
    StoreError::Db(format!("a stored {what} does not decode"))
}

/// A value type: redb's own, plus its owned form and bytes.
pub trait KvValue: redb::Value + 'static {
    /// What reads return (`Vec<u8>`, `String`, `u64`, `()`).
    type Owned: 'static;
    fn own(v: Self::SelfType<'_>) -> Self::Owned;
    fn view(o: &Self::Owned) -> Self::SelfType<'_>;
    fn encode(v: &Self::SelfType<'_>) -> Vec<u8>;
    fn decode(b: &[u8]) -> Result<Self::Owned>;
}

/// A key type: redb's own, plus its owned form and order-preserving bytes.
pub trait KvKey: redb::Key + 'static {
    type Owned: 'static;
    fn own(k: Self::SelfType<'_>) -> Self::Owned;
    fn view(o: &Self::Owned) -> Self::SelfType<'_>;
    /// Appends the key's bytes to `out`; the bytes of two keys compare as the keys do.
    fn encode(k: &Self::SelfType<'_>, out: &mut Vec<u8>);
    fn decode(b: &[u8]) -> Result<Self::Owned>;
}

/// The key's bytes.
pub fn key_bytes<K: KvKey>(k: &K::SelfType<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    K::encode(k, &mut out);
    out
}

impl KvValue for &'static [u8] {
    type Owned = Vec<u8>;
    fn own(v: &[u8]) -> Vec<u8> {
        v.to_vec()
    }
    fn view(o: &Vec<u8>) -> &[u8] {
        o
    }
    fn encode(v: &&[u8]) -> Vec<u8> {
        v.to_vec()
    }
    fn decode(b: &[u8]) -> Result<Vec<u8>> {
        Ok(b.to_vec())
    }
}

impl KvValue for &'static str {
    type Owned = String;
    fn own(v: &str) -> String {
        v.to_string()
    }
    fn view(o: &String) -> &str {
        o
    }
    fn encode(v: &&str) -> Vec<u8> {
        v.as_bytes().to_vec()
    }
    fn decode(b: &[u8]) -> Result<String> {
        String::from_utf8(b.to_vec()).map_err(|_| corrupt("string"))
    }
}

fn u64_of(b: &[u8]) -> Result<u64> {
    b.try_into().map(u64::from_be_bytes).map_err(|_| corrupt("number"))
}

impl KvValue for u64 {
    type Owned = u64;
    fn own(v: u64) -> u64 {
        v
    }
    fn view(o: &u64) -> u64 {
        *o
    }
    fn encode(v: &u64) -> Vec<u8> {
        v.to_be_bytes().to_vec()
    }
    fn decode(b: &[u8]) -> Result<u64> {
        u64_of(b)
    }
}

impl KvValue for () {
    type Owned = ();
    fn own(_: ()) {}
    fn view(_: &()) {}
    fn encode(_: &()) -> Vec<u8> {
        vec![]
    }
    fn decode(_: &[u8]) -> Result<()> {
        Ok(())
    }
}

impl KvKey for &'static str {
    type Owned = String;
    fn own(k: &str) -> String {
        k.to_string()
    }
    fn view(o: &String) -> &str {
        o
    }
    fn encode(k: &&str, out: &mut Vec<u8>) {
        out.extend_from_slice(k.as_bytes());
    }
    fn decode(b: &[u8]) -> Result<String> {
        String::from_utf8(b.to_vec()).map_err(|_| corrupt("key"))
    }
}

impl KvKey for &'static [u8] {
    type Owned = Vec<u8>;
    fn own(k: &[u8]) -> Vec<u8> {
        k.to_vec()
    }
    fn view(o: &Vec<u8>) -> &[u8] {
        o
    }
    fn encode(k: &&[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(k);
    }
    fn decode(b: &[u8]) -> Result<Vec<u8>> {
        Ok(b.to_vec())
    }
}

impl KvKey for u64 {
    type Owned = u64;
    fn own(k: u64) -> u64 {
        k
    }
    fn view(o: &u64) -> u64 {
        *o
    }
    fn encode(k: &u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&k.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Result<u64> {
        u64_of(b)
    }
}

impl KvKey for (&'static str, u64) {
    type Owned = (String, u64);
    fn own(k: (&str, u64)) -> (String, u64) {
        (k.0.to_string(), k.1)
    }
    fn view(o: &(String, u64)) -> (&str, u64) {
        (o.0.as_str(), o.1)
    }
    fn encode(k: &(&str, u64), out: &mut Vec<u8>) {
        for &b in k.0.as_bytes() {
            out.push(b);
            if b == 0 {
                out.push(0xff);
            }
        }
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&k.1.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Result<(String, u64)> {
        let mut s = Vec::with_capacity(b.len());
        let mut i = 0;
        loop {
            match (b.get(i), b.get(i + 1)) {
                (Some(0), Some(0xff)) => {
                    s.push(0);
                    i += 2;
                }
                (Some(0), Some(1)) => break,
                (Some(&c), _) if c != 0 => {
                    s.push(c);
                    i += 1;
                }
                _ => return Err(corrupt("key")),
            }
        }
        let s = String::from_utf8(s).map_err(|_| corrupt("key"))?;
        Ok((s, u64_of(&b[i + 2..])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::Key;

    /// The bytes of tuple keys order as redb orders the keys (strings with `\0` and prefixes
    /// of each other, numbers across byte boundaries), and decode back.
    #[test]
    fn tuple_keys_order_as_redb_orders_them_and_round_trip() {
        type T = (&'static str, u64);
        let strs = ["", "\0", "\0\0", "\u{1}", "a", "a\0", "a\0b", "a\0\u{ff}", "a\u{1}", "ab", "b", "é"];
        let nums = [0u64, 1, 255, 256, 1 << 40, u64::MAX];
        let mut keys = vec![];
        for s in strs {
            for n in nums {
                keys.push((s, n));
            }
        }
        for a in &keys {
            let ab = key_bytes::<T>(a);
            assert_eq!(T::decode(&ab).unwrap(), (a.0.to_string(), a.1));
            for b in &keys {
                let redb_order = T::compare(&<T as redb::Value>::as_bytes(a), &<T as redb::Value>::as_bytes(b));
                assert_eq!(ab.cmp(&key_bytes::<T>(b)), redb_order, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn numbers_and_strings_order_as_redb_orders_them() {
        let nums = [0u64, 1, 255, 256, 65535, 1 << 32, u64::MAX - 1, u64::MAX];
        for a in nums {
            for b in nums {
                assert_eq!(key_bytes::<u64>(&a).cmp(&key_bytes::<u64>(&b)), a.cmp(&b));
            }
            assert_eq!(<u64 as KvKey>::decode(&key_bytes::<u64>(&a)).unwrap(), a);
        }
        let strs = ["", "\0", "a", "a\0", "ab", "b", "é", "z"];
        for a in strs {
            for b in strs {
                assert_eq!(key_bytes::<&str>(&a).cmp(&key_bytes::<&str>(&b)), a.cmp(b));
            }
        }
        assert!(<(&str, u64) as KvKey>::decode(b"a\0").is_err());
        assert!(<u64 as KvValue>::decode(b"123").is_err());
    }
}
