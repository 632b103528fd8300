#!/usr/bin/env python3
"""Check the server's answers against the OpenAPI document it serves.

Standalone (no pytest). Fetches ``GET /api/v3/schema/``, checks that it is a
valid OpenAPI document (openapi-spec-validator, through openapi-core), then
sends real requests over HTTP and validates every answer (status, content
type, body) against the document with openapi-core. Where the request is
one a client may send, the request is validated too, so the document's
request schemas are known to accept what the server accepts.

The Rust tests check the wire format against the spec key by key; this
checks that the document a client generator reads describes the same wire,
including the error answers (400, 403, 404, 413, 415) and the nullable
``flow_obj`` that upstream's document gets wrong. send_email is called
with mail on (the server is expected to have an SMTP server): 204, its two
kinds of 400 (``{"error": ...}`` refusals and field errors), 404 and 415.

Environment:
  AUTHENTIK_URL      base URL without /api/v3, e.g. http://127.0.0.1:9000
  AUTHENTIK_TOKEN    API token of a user holding the four invitation permissions
  AUTHENTIK_FLOW_PK  a flow UUID that exists on the server

Output: one line per request, then "<n> passed, <m> failed". Exit code 0
only when nothing failed; 2 when the environment is wrong.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, Optional, Tuple

try:
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"cannot import openapi_core ({exc}); pip install -r requirements.txt")
    sys.exit(2)

COLLECTION = "/api/v3/stages/invitation/invitations/"
ITEM = COLLECTION + "{pk}/"
USED_BY = ITEM + "used_by/"
SEND_EMAIL = COLLECTION + "{invite_uuid}/send_email/"


def reasons(error: Exception) -> str:
    """What a validation error says, most specific first: openapi-core wraps
    jsonschema's errors (each with the path of the offending value)."""
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        return "; ".join(
            f"at {'/'.join(str(part) for part in e.absolute_path) or '(root)'}: {e.message[:200]}"
            for e in schema_errors)
    return f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else "")


class Server:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def call(self, method: str, path: str, *, query: Optional[Dict[str, str]] = None,
             body: Optional[bytes] = None, content_type: str = "application/json",
             token: Optional[str] = "default") -> Tuple[int, str, bytes, Dict[str, str]]:
        """Sends one request; gives back (status, content type, body, request headers)."""
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {}
        if body is not None:
            headers["Content-Type"] = content_type
        if token is not None:
            headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.headers.get("Content-Type", ""), answer.read(), headers
        except urllib.error.HTTPError as answer:
            return answer.code, answer.headers.get("Content-Type", ""), answer.read(), headers


def main() -> int:
    base = os.environ.get("AUTHENTIK_URL", "").strip().rstrip("/")
    token = os.environ.get("AUTHENTIK_TOKEN", "").strip()
    flow_pk = os.environ.get("AUTHENTIK_FLOW_PK", "").strip()
    if not base or not token or not flow_pk:
        print("AUTHENTIK_URL, AUTHENTIK_TOKEN and AUTHENTIK_FLOW_PK must be set")
        return 2
    if base.endswith("/api/v3"):
        base = base[: -len("/api/v3")]
    server = Server(base, token)

    status, _, body, _ = server.call("GET", "/api/v3/schema/")
    if status != 200:
        print(f"FAIL schema: GET /api/v3/schema/ answered {status}")
        return 1
    document = json.loads(body)
    try:
        openapi = OpenAPI.from_dict(document)  # validates the document itself
    except Exception as exc:  # noqa: BLE001 - any reason is a failure to report
        print(f"FAIL schema: not a valid OpenAPI document: {type(exc).__name__}: {exc}")
        return 1
    print(f"# OpenAPI {document.get('openapi')} document from {base}: valid")

    passed = 0
    failed = 0

    def exchange(label: str, method: str, path: str, pattern: str, expected: int, *,
                 query: Optional[Dict[str, str]] = None, body: Optional[Any] = None,
                 raw: Optional[bytes] = None, content_type: str = "application/json",
                 token_: Optional[str] = "default", valid_request: bool = True,
                 view_args: Optional[Dict[str, str]] = None) -> Optional[Any]:
        """Sends a request, validates the answer (and a valid request) against
        the document; gives back the answer's JSON (None when empty)."""
        nonlocal passed, failed
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        status, answer_type, answer, sent_headers = server.call(
            method, path, query=query, body=data, content_type=content_type, token=token_)
        problems = []
        if status != expected:
            problems.append(f"expected HTTP {expected}, got {status}: {answer[:200]!r}")
        request = MockRequest(base, method.lower(), path, path_pattern=pattern,
                              args=query or {}, view_args=view_args or {},
                              headers=sent_headers, data=data, content_type=content_type)
        if valid_request:
            problems += [f"request {reasons(error)}" for error in openapi.iter_request_errors(request)]
        response = MockResponse(answer, status_code=status,
                                content_type=answer_type.split(";")[0].strip() or "application/json")
        problems += [f"answer {reasons(error)}" for error in openapi.iter_response_errors(request, response)]
        if problems:
            failed += 1
            print(f"FAIL {label}: " + "; ".join(p.replace("\n", " ")[:600] for p in problems))
        else:
            passed += 1
            print(f"PASS {label}: {method} {path} -> {status}")
        return json.loads(answer) if answer else None

    suffix = secrets.token_hex(4)
    bare = exchange("create without a flow", "POST", COLLECTION, COLLECTION, 201,
                    body={"name": f"oa-{suffix}", "fixed_data": {"k": [1, {"x": None}]}})
    bound = exchange("create bound to a flow, expiring", "POST", COLLECTION, COLLECTION, 201,
                     body={"name": f"oa-flow-{suffix}", "flow": flow_pk, "single_use": True,
                           "expires": "2099-01-01T00:00:00.123456Z"})
    pks = [x["pk"] for x in (bare, bound) if isinstance(x, dict) and "pk" in x]
    if len(pks) != 2:
        print(f"{passed} passed, {failed + 1} failed (nothing to go on with)")
        return 1
    pk, flow_inv = pks
    item = ITEM.replace("{pk}", pk)

    exchange("retrieve", "GET", item, ITEM, 200, view_args={"pk": pk})
    exchange("retrieve one bound to a flow", "GET", ITEM.replace("{pk}", flow_inv), ITEM, 200,
             view_args={"pk": flow_inv})
    exchange("list, searched", "GET", COLLECTION, COLLECTION, 200,
             query={"search": f"oa {suffix}", "ordering": "-expires", "page": "1", "page_size": "5"})
    exchange("list, exact filters", "GET", COLLECTION, COLLECTION, 200,
             query={"name": f"oa-flow-{suffix}", "flow__slug": "default-enrollment-flow",
                    "expires": "2099-01-01T00:00:00.123456Z"})
    exchange("list, empty", "GET", COLLECTION, COLLECTION, 200, query={"name": f"none-{suffix}"})
    exchange("update", "PUT", item, ITEM, 200, view_args={"pk": pk},
             body={"name": f"oa-upd-{suffix}", "flow": flow_pk})
    exchange("partial update to no flow", "PATCH", item, ITEM, 200, view_args={"pk": pk},
             body={"flow": None, "expires": None})
    exchange("used by", "GET", USED_BY.replace("{pk}", pk), USED_BY, 200, view_args={"pk": pk})

    def send_email(label: str, invitation: str, expected: int, **kwargs: Any) -> None:
        exchange(label, "POST", SEND_EMAIL.replace("{invite_uuid}", invitation), SEND_EMAIL,
                 expected, view_args={"invite_uuid": invitation}, **kwargs)

    send_email("send_email", flow_inv, 204,
               body={"email_addresses": [f"oa-{suffix}@example.org"],
                     "cc_addresses": [f"oa-cc-{suffix}@example.org"]})
    send_email("send_email 400 no addresses", flow_inv, 400, body={"email_addresses": []})
    send_email("send_email 400 no flow", pk, 400,
               body={"email_addresses": [f"oa-{suffix}@example.org"]})
    send_email("send_email 400 unknown template", flow_inv, 400,
               body={"email_addresses": [f"oa-{suffix}@example.org"], "template": "none.html"})
    send_email("send_email 400 field errors", flow_inv, 400, valid_request=False,
               body={"email_addresses": "oa@example.org", "template": ""})
    send_email("send_email 400 malformed JSON", flow_inv, 400, valid_request=False,
               raw=b'{"email_addresses": [')
    send_email("send_email 404 unknown pk", str(uuid.uuid4()), 404,
               body={"email_addresses": [f"oa-{suffix}@example.org"]})
    send_email("send_email 415 wrong content type", flow_inv, 415, valid_request=False,
               raw=b"email_addresses=x", content_type="application/x-www-form-urlencoded")

    exchange("400 field errors", "POST", COLLECTION, COLLECTION, 400, valid_request=False,
             body={"name": "not a slug", "fixed_data": [], "single_use": "maybe"})
    exchange("400 malformed JSON", "POST", COLLECTION, COLLECTION, 400, valid_request=False,
             raw=b'{"name": ')
    exchange("400 a JSON array", "PUT", item, ITEM, 400, valid_request=False,
             view_args={"pk": pk}, body=[1])
    exchange("403 no credentials", "POST", COLLECTION, COLLECTION, 403, valid_request=False,
             token_=None, body={"name": f"oa-x-{suffix}"})
    exchange("403 unknown token", "DELETE", item, ITEM, 403, valid_request=False,
             view_args={"pk": pk}, token_=f"not-{token}")
    exchange("404 page past the end", "GET", COLLECTION, COLLECTION, 404,
             query={"name": f"oa-upd-{suffix}", "page": "9"})
    exchange("404 unknown pk", "GET", ITEM.replace("{pk}", str(uuid.uuid4())), ITEM, 404,
             view_args={"pk": "unknown"}, valid_request=False)
    exchange("413 body over 1 MiB", "POST", COLLECTION, COLLECTION, 413, valid_request=False,
             raw=b'{"name": "' + b"a" * (1 << 20) + b'"}')
    exchange("415 wrong content type", "PATCH", item, ITEM, 415, valid_request=False,
             view_args={"pk": pk}, raw=b"name=x", content_type="application/x-www-form-urlencoded")

    exchange("delete", "DELETE", item, ITEM, 204, view_args={"pk": pk})
    exchange("delete the flow-bound one", "DELETE", ITEM.replace("{pk}", flow_inv), ITEM, 204,
             view_args={"pk": flow_inv})
    exchange("404 after delete", "GET", item, ITEM, 404, view_args={"pk": pk})
    exchange("live", "GET", "/-/health/live/", "/-/health/live/", 200, token_=None)
    exchange("ready", "GET", "/-/health/ready/", "/-/health/ready/", 200, token_=None)

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
