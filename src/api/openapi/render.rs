//! docs/openapi.md: the document as tables, for people (README links to it). Generated from the
//! document, checked to be current by a test (`GATEHOUSE_WRITE_OPENAPI=1` rewrites it).

use serde_json::Value;
use std::fmt::Write;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The name a `$ref` points to, or the schema's type.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(items) = schema.get("items") {
        return format!("[{}]", type_of(items));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(v)) = schema.get(key) {
            let parts: Vec<String> = v.iter().map(type_of).filter(|t| t != "null").collect();
            return parts.join(" \\| ");
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(v)) => {
            v.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect::<Vec<_>>().join(" \\| ")
        }
        _ => "any".into(),
    }
}

fn body_of(content: Option<&Value>) -> String {
    let Some(Value::Object(c)) = content else { return String::new() };
    c.iter()
        .map(|(ct, m)| match m.get("schema") {
            Some(s) if ct == "application/json" => format!("`{}`", type_of(s)),
            _ => ct.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn answers(op: &Value) -> String {
    let Some(Value::Object(rs)) = op.get("responses") else { return String::new() };
    rs.iter()
        .map(|(status, r)| {
            let body = body_of(r.get("content"));
            if status.starts_with('2') && !body.is_empty() {
                format!("{status} {body}")
            } else {
                status.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn auth(op: &Value) -> String {
    let Some(Value::Array(req)) = op.get("security") else { return "none".into() };
    let names: Vec<&str> = req.iter().filter_map(|r| r.as_object()?.keys().next().map(String::as_str)).collect();
    names.join(" or ")
}

/// The markdown of `doc` (the document as JSON).
pub fn markdown(doc: &Value) -> String {
    let mut out = String::from(
        "# The /auth API, as its OpenAPI document describes it\n\n\
         Generated from the handlers' `#[utoipa::path]` annotations and types (src/api/openapi): do not\n\
         edit. The document itself is [openapi.json](openapi.json), also served by a running Gatehouse at\n\
         `GET /auth/openapi.json`; docs/http-api.md tells what each endpoint does. After changing an\n\
         endpoint, regenerate both files:\n\n\
         ```sh\n\
         GATEHOUSE_WRITE_OPENAPI=1 cargo test --lib api::openapi\n\
         ```\n\n\
         Adding an endpoint: annotate its handler with `#[utoipa::path(...)]` (method, path, body type,\n\
         answers; errors by status: `(status = 404, response = errors::NotFound)`; any handler in\n\
         src/api shows one) and name the handler in `ApiDoc`'s `paths(...)` in src/api/openapi/mod.rs,\n\
         one line. The test fails for a route the document lacks.\n\n\
         Every operation can also answer 400, 429 and 503; every POST and DELETE 403 (a cross-site\n\
         request with Gatehouse's cookies); every one with a body 413 and 415. Errors are\n\
         `{\"error\", \"message\"}` with the codes of docs/http-api.md §12.\n\n\
         | Method | Path | Auth | Request | Answers |\n| --- | --- | --- | --- | --- |\n",
    );
    if let Some(Value::Object(paths)) = doc.get("paths") {
        for (path, item) in paths {
            for m in METHODS {
                let Some(op) = item.get(m) else { continue };
                let request = op.get("requestBody").map(|b| body_of(b.get("content"))).unwrap_or_default();
                let row = [m.to_uppercase(), format!("`{path}`"), auth(op), request, answers(op)];
                let _ = writeln!(out, "| {} |", row.join(" | "));
            }
        }
    }
    out.push_str("\n## Schemas\n\n");
    if let Some(Value::Object(schemas)) = doc.pointer("/components/schemas") {
        for (name, s) in schemas {
            let _ = writeln!(out, "### {name}\n");
            if let Some(d) = s.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", d.replace('\n', " "));
            }
            schema_fields(&mut out, s);
            out.push('\n');
        }
    }
    out
}

fn schema_fields(out: &mut String, s: &Value) {
    if let Some(Value::Array(v)) = s.get("oneOf") {
        let _ =
            writeln!(out, "One of: {}.", v.iter().map(|x| format!("`{}`", type_of(x))).collect::<Vec<_>>().join(", "));
        return;
    }
    let parts: Vec<&Value> = match s.get("allOf") {
        Some(Value::Array(v)) => v.iter().collect(),
        _ => vec![s],
    };
    let _ = writeln!(out, "| Field | Type | Required | Description |\n| --- | --- | --- | --- |");
    for part in parts {
        let required: Vec<&str> = match part.get("required") {
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let Some(Value::Object(props)) = part.get("properties") else { continue };
        for (field, p) in props {
            let desc = p.get("description").and_then(Value::as_str).unwrap_or("").replace('\n', " ");
            let req = if required.contains(&field.as_str()) { "yes" } else { "" };
            let _ = writeln!(out, "| `{field}` | {} | {req} | {desc} |", type_of(p));
        }
    }
}
