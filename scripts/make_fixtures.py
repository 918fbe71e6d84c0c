#!/usr/bin/env python3
"""Writes the fixtures whose signatures must be computed outside the Rust code.

- functions/core/tests/data/signature_vectors.json: known-answer HMAC vectors (Python's hmac).
- events/lambda/function-url-*.json: Lambda Function URL events carrying webhook bodies from
  events/webhooks/, serialised compactly as Immuta's JSON.stringify does and signed with the
  test-only secret below.

`--check` regenerates in memory and fails if a committed file differs (run by `make test`).
"""
import base64
import hashlib
import hmac
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEST_SECRET = "immuta-view-sync-test-secret"  # test-only; documented in events/README.md
SHA256 = "x-immuta-webhook-signature-sha256"
SHA1 = "x-immuta-webhook-signature"


def sig(secret: bytes, body: bytes, algo) -> str:
    return hmac.new(secret, body, algo).hexdigest()


def vectors():
    kb = (b'{"notificationType":"policyUpdated","modelType":"datasource","modelId":2,"pad":"'
          + b"x" * 950 + b'"}')
    cases = [
        ("seed policyUpdated body", b"s3cret", b'{"notificationType":"policyUpdated","modelType":"datasource","modelId":2}'),
        ("empty body", b"s3cret", b""),
        ("1 KB body", b"immuta-view-sync-test-secret", kb),
        ("non-ASCII body", b"s3cret", '{"dataSourceName":"Caf\u00e9 \u00fcber \u6570\u636e"}'.encode()),
        ("trailing newline is signed too", b"s3cret", b'{"notificationType":"policyUpdated"}\n'),
        ("secret longer than a hash block", b"k" * 100, b'{"a":1}'),
        ("empty secret", b"", b'{"a":1}'),
    ]
    out = []
    for name, secret, body in cases:
        out.append({
            "name": name,
            "secret_hex": secret.hex(),
            "body_hex": body.hex(),
            "sha256": sig(secret, body, hashlib.sha256),
            "sha1": sig(secret, body, hashlib.sha1),
        })
    return json.dumps({"generator": "scripts/make_fixtures.py (Python hmac)", "vectors": out}, indent=2) + "\n"


def compact(path: str) -> bytes:
    obj = json.loads((ROOT / "events" / "webhooks" / path).read_text())
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def function_url_event(body: bytes, *, method="POST", sign=("sha256", "sha1"), base64_body=False,
                       header_case=str.lower, tamper=False, request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef"):
    headers = {
        "content-type": "application/json",
        "host": "abcdefghijklmnopqrstuvwxyz0123.lambda-url.us-east-1.on.aws",
        "user-agent": "Immuta-Webhooks",
        "x-amzn-trace-id": "Root=1-5e1b4151-5ac6c58f8d2f7b9d2bbd4b3c",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    secret = TEST_SECRET.encode()
    signed = body + b" " if tamper else body
    if "sha256" in sign:
        headers[header_case(SHA256)] = sig(secret, signed, hashlib.sha256)
    if "sha1" in sign:
        headers[header_case(SHA1)] = sig(secret, signed, hashlib.sha1)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz0123",
            "domainName": "abcdefghijklmnopqrstuvwxyz0123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz0123",
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "Immuta-Webhooks"},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795392000000,
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }


def mixed_case(name: str) -> str:
    return "-".join(part.upper() if part.startswith("sha") else part.capitalize() for part in name.split("-"))


def lambda_events():
    policy = compact("policyUpdated-datasource-local-applied.json")
    return {
        "function-url-policy-updated.json": function_url_event(policy),
        "function-url-added-to-project-base64.json": function_url_event(compact("addedToProject.json"), base64_body=True),
        "function-url-mixed-case-headers.json": function_url_event(compact("dataSourceUpdated-disabled.json"), header_case=mixed_case),
        "function-url-sha1-only.json": function_url_event(compact("removedFromProject.json"), sign=("sha1",)),
        "function-url-envelope.json": function_url_event(compact("envelope-modelCreated-public.json")),
        "function-url-marketplace.json": function_url_event(compact("marketplace-data_sources-updated.json")),
        "function-url-unsigned.json": function_url_event(policy, sign=()),
        "function-url-bad-signature.json": function_url_event(policy, tamper=True),
        "function-url-get.json": function_url_event(b"", method="GET", sign=()),
        "function-url-not-json.json": function_url_event(b"notification: policyUpdated"),
        "function-url-array.json": function_url_event(b"[1,2,3]"),
        "function-url-unclassifiable.json": function_url_event(compact("unclassifiable-text-attachments.ours.json")),
        "function-url-unknown-type.json": function_url_event(
            b'{"notificationType":"somethingImmutaAddsLater","modelType":"datasource","modelId":2}'),
        "function-url-governance-settings-updated.json": function_url_event(compact("governanceSettingsUpdated.ours.json")),
    }


def outputs():
    files = {ROOT / "functions/core/tests/data/signature_vectors.json": vectors()}
    for name, event in lambda_events().items():
        files[ROOT / "events/lambda" / name] = json.dumps(event, indent=2) + "\n"
    return files


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for path, text in outputs().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        sys.exit("fixtures out of date (run scripts/make_fixtures.py): " + ", ".join(stale))


if __name__ == "__main__":
    main()
