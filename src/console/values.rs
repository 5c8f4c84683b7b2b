//! Settings shown as they are in effect: a JSON value of the (redacted) effective
//! configuration as a table of dotted keys and values, or as YAML.

use crate::web::escape;
use serde_json::Value;

/// `v` flattened to `(dotted.key, value)` rows: objects open up, lists of scalars are joined,
/// lists of objects are numbered (`sms[0].url`).
pub fn rows(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(m) if !m.is_empty() => m.iter().for_each(|(k, x)| rows(&key(k), x, out)),
        Value::Array(a) if a.iter().any(|x| x.is_object()) => {
            a.iter().enumerate().for_each(|(i, x)| rows(&format!("{prefix}[{i}]"), x, out))
        }
        Value::Array(a) => out.push((prefix.into(), a.iter().map(scalar).collect::<Vec<_>>().join(", "))),
        other => out.push((prefix.into(), scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Object(_) => "{}".into(),
        other => other.to_string(),
    }
}

/// A two-column table of `v`'s settings, captioned `caption`.
pub fn table(caption: &str, v: &Value) -> String {
    let mut r = vec![];
    rows("", v, &mut r);
    let body: String = r
        .iter()
        .map(|(k, v)| format!("<tr><th scope=\"row\"><code>{}</code></th><td>{}</td></tr>", escape(k), escape(v)))
        .collect();
    format!(
        "<table class=\"settings\"><caption>{}</caption><thead><tr><th scope=\"col\">Setting</th><th scope=\"col\">Value</th></tr></thead><tbody>{body}</tbody></table>",
        escape(caption)
    )
}

/// The field a flow's message names (its messages start with the field in backticks), when it
/// is one of `fields`.
pub fn field_in(message: &str, fields: &[&'static str]) -> Option<&'static str> {
    let name = message.strip_prefix('`')?.split('`').next()?;
    fields.iter().copied().find(|f| *f == name)
}

/// `YYYY-MM-DD` (UTC) of `t`, unix seconds.
pub fn date(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
        .unwrap_or_default()
}

/// `HH:MM:SS` (UTC) of `t`.
pub fn clock(t: u64) -> String {
    let s = t % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of `t`.
pub fn utc(t: u64) -> String {
    format!("{} {}", date(t), clock(t))
}

/// `v` as YAML (for the whole configuration), escaped for a `<pre>`.
pub fn yaml(v: &Value) -> String {
    escape(&serde_norway::to_string(v).unwrap_or_else(|_| serde_json::to_string_pretty(v).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_flatten_to_dotted_keys() {
        let v = json!({"smtp": {"host": "mail", "password": "[redacted]"}, "modes": ["user", "ip"],
                       "sms": [{"name": "a"}], "ttl": "5m", "n": 6, "x": null});
        let mut r = vec![];
        rows("", &v, &mut r);
        let got: Vec<(&str, &str)> = r.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("modes", "user, ip"),
                ("n", "6"),
                ("sms[0].name", "a"),
                ("smtp.host", "mail"),
                ("smtp.password", "[redacted]"),
                ("ttl", "5m"),
                ("x", "—")
            ]
        );
        assert_eq!(utc(1_733_311_230), "2024-12-04 11:20:30");
        assert_eq!(field_in("`since` is after `until`.", &["until", "since"]), Some("since"));
        assert_eq!(field_in("`x` is bad", &["since"]), None);
        let t = table("E-mail <smtp>", &json!({"host": "<b>"}));
        assert!(t.contains("<caption>E-mail &lt;smtp&gt;</caption>") && t.contains("<td>&lt;b&gt;</td>"), "{t}");
    }
}
