//! The file formats of `policies/*.yaml` and `policies/*.test.yaml` (docs/policies.md).

use crate::config::units::OneOrMany;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(default)]
    pub default_policy: Option<String>,
    #[serde(default)]
    pub rules: Vec<RuleFile>,
    #[serde(default)]
    pub definitions: Definitions,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Definitions {
    #[serde(default)]
    pub networks: BTreeMap<String, OneOrMany<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub domain: Option<OneOrMany<String>>,
    #[serde(default)]
    pub domain_regex: Option<OneOrMany<String>>,
    #[serde(default)]
    pub resources: Option<OneOrMany<String>>,
    #[serde(default)]
    pub methods: Option<OneOrMany<String>>,
    #[serde(default)]
    pub networks: Option<OneOrMany<String>>,
    #[serde(default)]
    pub subject: Option<OneOrMany<OneOrMany<String>>>,
    #[serde(default)]
    pub scopes: Option<OneOrMany<String>>,
    #[serde(default)]
    pub query: Option<Vec<OneOrMany<QueryCondFile>>>,
    pub policy: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryCondFile {
    pub key: String,
    #[serde(default = "default_operator")]
    pub operator: String,
    #[serde(default)]
    pub value: Option<String>,
}

fn default_operator() -> String {
    "present".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub level: Option<String>,
    /// `gateway` (default) or `forward_auth`: judged as that deployment judges the raw path.
    #[serde(default)]
    pub mode: Option<String>,
    pub expect: String,
}

fn default_method() -> String {
    "GET".into()
}
