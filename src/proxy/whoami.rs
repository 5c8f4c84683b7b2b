//! `builtin:whoami`: a demo upstream inside Gatehouse that answers with the request exactly as
//! an app would have received it, identity headers included.

use super::respond::Reply;
use pingora::http::RequestHeader;
use serde_json::{Map, Value};
use std::net::IpAddr;

pub fn reply(req: &RequestHeader, client_ip: Option<IpAddr>, peer: Option<IpAddr>) -> Reply {
    let mut headers = Map::new();
    for (name, value) in req.headers.iter() {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    let body = serde_json::json!({
        "method": req.method.as_str(),
        "url": req.uri.to_string(),
        "path": req.uri.path(),
        "query": req.uri.query(),
        "client_ip": client_ip.map(|i| i.to_string()),
        "remote_addr": peer.map(|i| i.to_string()),
        "headers": headers,
    });
    Reply::json(200, &body)
}
