#!/usr/bin/env python3
"""A stand-in for AWS End User Messaging SMS (service sms-voice) for the e2e test providers::.

It checks what AWS checks before it sends a text: a SigV4 Authorization header for the expected
access key, region and service, a request time within 5 minutes, host, x-amz-date,
x-amz-target and content-type among the signed headers, and a signature that botocore's own
SigV4 signer (PyPI botocore, independent of the Rust aws-sigv4 crate) computes the same; then the
SendTextMessage target, path and JSON body. It answers 200 with a MessageId, or 403/400 with
AWS's error shape, and prints one JSON line per request: {"verdict": "ok" | why, "body": ...}.

Usage: sigv4_recorder.py ACCESS_KEY_ID SECRET_ACCESS_KEY REGION
Prints `port N` first (it listens on 127.0.0.1, a free port).
"""
import datetime
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY, SECRET, REGION = sys.argv[1:4]
SERVICE = "sms-voice"
ALGORITHM = "AWS4-HMAC-SHA256 "


def check_signature(method, path, headers, body):
    auth = headers.get("Authorization", "")
    if not auth.startswith(ALGORITHM):
        return "missing SigV4 authorization"
    try:
        parts = dict(p.strip().split("=", 1) for p in auth[len(ALGORITHM):].split(","))
    except ValueError:
        return "malformed authorization"
    scope = parts.get("Credential", "").split("/")
    amz_date = headers.get("X-Amz-Date", "")
    if len(scope) != 5 or scope[0] != ACCESS_KEY:
        return "unknown access key"
    if scope[1:] != [amz_date[:8], REGION, SERVICE, "aws4_request"]:
        return "wrong credential scope"
    try:
        at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "bad x-amz-date"
    if abs((datetime.datetime.now(datetime.timezone.utc) - at).total_seconds()) > 300:
        return "request time too skewed"
    signed = parts.get("SignedHeaders", "").split(";")
    for need in ("content-type", "host", "x-amz-date", "x-amz-target"):
        if need not in signed:
            return f"{need} is not signed"
    req = AWSRequest(
        method=method,
        url=f"http://{headers.get('Host')}{path}",
        data=body,
        headers={h: headers.get(h, "") for h in signed},
    )
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET, headers.get("X-Amz-Security-Token")), SERVICE, REGION)
    req.context["timestamp"] = amz_date
    want = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    if not hmac.compare_digest(want, parts.get("Signature", "")):
        return "signature mismatch"
    return None


def check_request(path, headers, body):
    if path != "/":
        return "wrong path"
    if headers.get("X-Amz-Target") != "PinpointSMSVoiceV2.SendTextMessage":
        return "wrong x-amz-target"
    if headers.get("Content-Type") != "application/x-amz-json-1.0":
        return "wrong content-type"
    try:
        doc = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not str(doc.get("DestinationPhoneNumber", "")).startswith("+") or not doc.get("MessageBody"):
        return "DestinationPhoneNumber and MessageBody are required"
    return None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        why = check_signature("POST", self.path, self.headers, body)
        status, answer = 403, {"__type": "InvalidSignatureException", "message": why}
        if why is None:
            why = check_request(self.path, self.headers, body)
            status, answer = 400, {"__type": "ValidationException", "message": why}
        if why is None:
            status, answer = 200, {"MessageId": "m-1"}
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        print(json.dumps({"verdict": why or "ok", "body": doc}), flush=True)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
