#!/usr/bin/env python3
"""Round-trip the invitation API through authentik's generated Python client.

Standalone (no pytest). Exercises /api/v3/stages/invitation/invitations/ with
the typed ``authentik_client`` (see requirements.txt for the pinned version)
so that every response is deserialised by the client's pydantic models, and
additionally checks the raw JSON for the keys real authentik always emits
(the client's ``from_dict`` treats an absent key exactly like ``null``, so it
would not notice a missing key on its own).

Environment:
  AUTHENTIK_URL      base URL without /api/v3, e.g. http://127.0.0.1:9000
  AUTHENTIK_TOKEN    API token, sent as "Authorization: Bearer <token>"
  AUTHENTIK_FLOW_PK  optional flow UUID that exists on the server; when set an
                     extra step creates an invitation bound to that flow and
                     checks flow/flow_obj.
  AUTHENTIK_CLIENT_STRICT
                     optional; "1" disables the flow_obj shim described below.
  SMTP_SINK_DIR      optional directory scripts/smtp-sink.py writes the
                     server's mail into; when set (with AUTHENTIK_FLOW_PK),
                     send_email's mail must arrive there within 15 s.
  MAIL_PUBLIC_URL    optional: the server's --public-url, which the mailed
                     link must start with.

send_email (``stages_invitation_invitations_send_email_create``, in
authentik-client 2026.8.5 and later) is called for an invitation bound to
the flow (204, and the mail when SMTP_SINK_DIR is set) and for one without
a flow (400 ``{"error": "Invitation has no associated flow"}``).

Known client quirk (upstream schema): ``Invitation.flow_obj`` is generated as
a required, NON-nullable ``Flow``. authentik (DRF) serialises an invitation
without a flow as ``"flow_obj": null``, which the unpatched client rejects
with a pydantic ValidationError. Unless AUTHENTIK_CLIENT_STRICT=1 the script
relaxes exactly that one field to ``Optional[Flow]`` and instead asserts on
the raw JSON that ``flow_obj`` is present and null when ``flow`` is null.

Output: one line per step, then "<n> passed, <m> failed". Exit code is 0 only
when nothing failed.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

try:
    import authentik_client
    from authentik_client.exceptions import ApiException, NotFoundException
    from authentik_client.models import (
        Flow,
        Invitation,
        InvitationRequest,
        PaginatedInvitationList,
        PatchedInvitationRequest,
    )
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"cannot import authentik_client ({exc}); pip install -r requirements.txt")
    sys.exit(2)

INVITATION_KEYS = {
    "pk", "name", "expires", "fixed_data", "created_by", "single_use", "flow", "flow_obj",
}
PARTIAL_USER_KEYS = {
    "pk", "username", "name", "is_active", "last_login", "email", "attributes", "uid",
}
FLOW_KEYS = {
    "pk", "policybindingmodel_ptr_id", "name", "slug", "title", "designation",
    "background", "background_url", "background_themed_urls", "stages", "policies",
    "cache_count", "policy_engine_mode", "compatibility_mode", "export_url", "layout",
    "denied_action", "authentication",
}
LIST_KEYS = {"pagination", "results", "autocomplete"}
PAGINATION_KEYS = {
    "next", "previous", "count", "current", "total_pages", "start_index", "end_index",
}

EXPIRES = datetime(2099, 1, 1, 0, 0, 0, tzinfo=timezone.utc)
FIXED_DATA = {"email": "x@example.org"}


class CheckFailed(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def eq(actual: Any, expected: Any, what: str) -> None:
    check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def relax_flow_obj() -> None:
    """Make Invitation.flow_obj Optional[Flow] (see module docstring)."""
    from pydantic.fields import FieldInfo

    Invitation.model_fields["flow_obj"] = FieldInfo(annotation=Optional[Flow], default=None)
    Invitation.model_rebuild(force=True)
    PaginatedInvitationList.model_rebuild(force=True)


def wait_for_mail(directory: str, address: str, timeout: float = 15.0) -> Dict[str, Any]:
    """The first mail the SMTP sink wrote with ``address`` among its
    envelope recipients, waiting up to ``timeout`` seconds for it."""
    deadline = time.monotonic() + timeout
    while True:
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".json") or name.startswith("."):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                record = json.load(f)
            if address in record.get("rcpt_tos", []):
                return record
        if time.monotonic() > deadline:
            raise CheckFailed(f"no mail to {address} in {directory} after {timeout:.0f} s")
        time.sleep(0.25)


def header(record: Dict[str, Any], name: str) -> Optional[str]:
    return next((v for k, v in record["headers"] if k.lower() == name.lower()), None)


def raw_json(resp: Any) -> Any:
    return json.loads(resp.raw_data.decode("utf-8"))


def check_keys(obj: Any, expected: set, what: str) -> None:
    check(isinstance(obj, dict), f"{what}: expected JSON object, got {type(obj).__name__}")
    missing = expected - set(obj)
    check(not missing, f"{what}: missing keys {sorted(missing)}")


def check_raw_invitation(raw: Any, flow_pk: Optional[str]) -> None:
    check_keys(raw, INVITATION_KEYS, "invitation")
    check_keys(raw["created_by"], PARTIAL_USER_KEYS, "invitation.created_by")
    if flow_pk is None:
        check(raw["flow"] is None, f"invitation.flow: expected null, got {raw['flow']!r}")
        check(raw["flow_obj"] is None,
              f"invitation.flow_obj: expected null when flow is null, got {raw['flow_obj']!r}")
    else:
        check_keys(raw["flow_obj"], FLOW_KEYS, "invitation.flow_obj")


def check_invitation(inv: Invitation, *, pk: Optional[uuid.UUID], name: str,
                     single_use: bool, flow_pk: Optional[str]) -> None:
    check(isinstance(inv, Invitation), f"expected Invitation, got {type(inv).__name__}")
    check(isinstance(inv.pk, uuid.UUID), f"pk is not a UUID: {inv.pk!r}")
    if pk is not None:
        eq(inv.pk, pk, "pk")
    eq(inv.name, name, "name")
    eq(inv.expires, EXPIRES, "expires")
    eq(inv.fixed_data, FIXED_DATA, "fixed_data")
    eq(inv.single_use, single_use, "single_use")
    check(inv.created_by is not None, "created_by is null")
    check(bool(inv.created_by.username), "created_by.username is empty")
    if flow_pk is None:
        eq(inv.flow, None, "flow")
    else:
        eq(inv.flow, uuid.UUID(flow_pk), "flow")
        check(inv.flow_obj is not None, "flow_obj is null although flow is set")
        eq(inv.flow_obj.pk, uuid.UUID(flow_pk), "flow_obj.pk")
        check(bool(inv.flow_obj.slug), "flow_obj.slug is empty")


def main() -> int:
    base = os.environ.get("AUTHENTIK_URL", "").strip().rstrip("/")
    token = os.environ.get("AUTHENTIK_TOKEN", "").strip()
    flow_pk = os.environ.get("AUTHENTIK_FLOW_PK", "").strip() or None
    mail_dir = os.environ.get("SMTP_SINK_DIR", "").strip() or None
    public_url = os.environ.get("MAIL_PUBLIC_URL", "").strip().rstrip("/") or None
    strict = os.environ.get("AUTHENTIK_CLIENT_STRICT", "") == "1"
    if not base or not token:
        print("AUTHENTIK_URL and AUTHENTIK_TOKEN must be set")
        return 2
    if base.endswith("/api/v3"):
        base = base[: -len("/api/v3")]
    if flow_pk is not None:
        flow_pk = str(uuid.UUID(flow_pk))

    if not strict:
        relax_flow_obj()
    print(f"# authentik-client {getattr(authentik_client, '__version__', '?')} "
          f"against {base}/api/v3 (flow_obj shim {'off' if strict else 'on'})")

    config = authentik_client.Configuration(host=f"{base}/api/v3", access_token=token)
    api_client = authentik_client.ApiClient(config)
    api = authentik_client.StagesApi(api_client)

    suffix = secrets.token_hex(4)
    name = f"rt-{suffix}"
    state: Dict[str, Any] = {
        "pk": None, "name": name, "deleted": False, "flow_inv": None, "mail_inv": None,
    }
    passed = 0
    failed = 0

    def step(label: str, fn: Callable[[], str], needs_pk: bool = True) -> None:
        nonlocal passed, failed
        if needs_pk and state["pk"] is None:
            failed += 1
            print(f"FAIL {label}: skipped, no invitation was created")
            return
        try:
            detail = fn()
        except CheckFailed as exc:
            failed += 1
            print(f"FAIL {label}: {exc}")
        except ApiException as exc:
            failed += 1
            body = (exc.body or "").replace("\n", " ")[:300]
            print(f"FAIL {label}: HTTP {exc.status} {exc.reason}: {body}")
        except Exception as exc:  # pydantic ValidationError, connection errors, ...
            failed += 1
            first = str(exc).replace("\n", " | ")[:500]
            print(f"FAIL {label}: {type(exc).__name__}: {first}")
            if os.environ.get("AUTHENTIK_DEBUG"):
                traceback.print_exc()
        else:
            passed += 1
            print(f"PASS {label}: {detail}")

    def do_create() -> str:
        resp = api.stages_invitation_invitations_create_with_http_info(
            InvitationRequest(name=name, expires=EXPIRES, fixed_data=FIXED_DATA, single_use=True)
        )
        eq(resp.status_code, 201, "status")
        inv = resp.data
        state["pk"] = inv.pk
        check_raw_invitation(raw_json(resp), None)
        check_invitation(inv, pk=None, name=name, single_use=True, flow_pk=None)
        return f"pk={inv.pk} created_by={inv.created_by.username}"

    def do_retrieve() -> str:
        resp = api.stages_invitation_invitations_retrieve_with_http_info(state["pk"])
        eq(resp.status_code, 200, "status")
        check_raw_invitation(raw_json(resp), None)
        check_invitation(resp.data, pk=state["pk"], name=name, single_use=True, flow_pk=None)
        return "fields match"

    def do_update() -> str:
        new_name = f"rt-upd-{suffix}"
        resp = api.stages_invitation_invitations_update_with_http_info(
            state["pk"],
            InvitationRequest(name=new_name, expires=EXPIRES, fixed_data=FIXED_DATA, single_use=True),
        )
        state["name"] = new_name  # the server accepted it; later steps search for it
        eq(resp.status_code, 200, "status")
        check_raw_invitation(raw_json(resp), None)
        check_invitation(resp.data, pk=state["pk"], name=new_name, single_use=True, flow_pk=None)
        return f"name={new_name}"

    def do_partial_update() -> str:
        resp = api.stages_invitation_invitations_partial_update_with_http_info(
            state["pk"], PatchedInvitationRequest(single_use=False)
        )
        eq(resp.status_code, 200, "status")
        check_raw_invitation(raw_json(resp), None)
        check_invitation(resp.data, pk=state["pk"], name=state["name"], single_use=False, flow_pk=None)
        return "single_use=False, other fields unchanged"

    def do_list() -> str:
        resp = api.stages_invitation_invitations_list_with_http_info(search=state["name"])
        eq(resp.status_code, 200, "status")
        raw = raw_json(resp)
        check_keys(raw, LIST_KEYS, "list")
        check_keys(raw["pagination"], PAGINATION_KEYS, "list.pagination")
        page = resp.data
        check(isinstance(page, PaginatedInvitationList), f"got {type(page).__name__}")
        eq(page.pagination.count, 1, "pagination.count")
        eq(len(page.results), 1, "len(results)")
        eq(page.results[0].pk, state["pk"], "results[0].pk")
        eq(page.pagination.current, 1, "pagination.current")
        eq(page.pagination.total_pages, 1, "pagination.total_pages")
        eq(page.pagination.next, 0, "pagination.next")
        eq(page.pagination.previous, 0, "pagination.previous")
        eq(page.pagination.start_index, 1, "pagination.start_index")
        eq(page.pagination.end_index, 1, "pagination.end_index")
        check_raw_invitation(raw["results"][0], None)
        check_invitation(page.results[0], pk=state["pk"], name=state["name"],
                         single_use=False, flow_pk=None)
        return f"search={state['name']!r} -> count=1"

    def do_list_exact_filters() -> str:
        # This client sends a datetime filter as `2099-01-01T00:00:00.000000+0000`
        # (an offset without a colon), which the server must read as Django does.
        username = api.stages_invitation_invitations_retrieve(state["pk"]).created_by.username
        filters = [
            {"name": state["name"]},
            {"name": state["name"], "created_by__username": username},
            {"name": state["name"], "expires": EXPIRES},
            {"name": state["name"], "ordering": "-expires", "page": 1, "page_size": 5},
        ]
        for kwargs in filters:
            page = api.stages_invitation_invitations_list(**kwargs)
            eq([r.pk for r in page.results], [state["pk"]], f"list({kwargs}) pks")
        later = EXPIRES.replace(second=1)
        none = api.stages_invitation_invitations_list(name=state["name"], expires=later)
        eq(none.pagination.count, 0, "list(name, expires one second later) count")
        return f"name, created_by__username={username!r}, expires, ordering/page"

    def do_used_by() -> str:
        resp = api.stages_invitation_invitations_used_by_list_with_http_info(state["pk"])
        eq(resp.status_code, 200, "status")
        eq(raw_json(resp), [], "raw body")
        eq(resp.data, [], "used_by")
        return "[]"

    def send_email_api() -> Any:
        """The client's send_email, checked to be there, and its body model."""
        check(hasattr(api, "stages_invitation_invitations_send_email_create"),
              f"authentik-client {getattr(authentik_client, '__version__', '?')} has no "
              "stages_invitation_invitations_send_email_create (2026.8.5 and later have it)")
        from authentik_client.models import InvitationSendEmailRequest

        return InvitationSendEmailRequest

    def do_send_email_without_flow() -> str:
        request = send_email_api()
        try:
            api.stages_invitation_invitations_send_email_create(
                state["pk"], request(email_addresses=[f"rt-noflow-{suffix}@example.org"]))
        except ApiException as exc:
            eq(exc.status, 400, "status")
            eq(json.loads(exc.body), {"error": "Invitation has no associated flow"}, "body")
        else:
            raise CheckFailed("send_email without a flow succeeded, expected 400")
        return '400 {"error": "Invitation has no associated flow"}'

    def do_send_email() -> str:
        request = send_email_api()
        created = api.stages_invitation_invitations_create(
            InvitationRequest(name=f"rt-mail-{suffix}", expires=EXPIRES, fixed_data=FIXED_DATA,
                              single_use=True, flow=uuid.UUID(flow_pk)))
        state["mail_inv"] = created.pk
        to = f"rt-to-{suffix}@example.org"
        cc = f"rt-cc-{suffix}@example.org"
        resp = api.stages_invitation_invitations_send_email_create_with_http_info(
            created.pk, request(email_addresses=[to], cc_addresses=[cc]))
        eq(resp.status_code, 204, "status")
        detail = "204"
        if mail_dir is not None:
            mail = wait_for_mail(mail_dir, to)
            eq(sorted(mail["rcpt_tos"]), sorted([to, cc]), "envelope recipients")
            eq(header(mail, "To"), to, "To")
            eq(header(mail, "Cc"), cc, "Cc")
            link = f"/if/flow/{created.flow_obj.slug}/?itoken={created.pk}"
            if public_url is not None:
                link = public_url + link
            texts = [part["text"] or "" for part in mail["parts"]]
            check(any(link in text for text in texts), f"no part holds the link {link}")
            detail += f", mailed to {to} (cc {cc}) with {link}"
        api.stages_invitation_invitations_destroy(created.pk)
        state["mail_inv"] = None
        return detail

    def do_destroy() -> str:
        resp = api.stages_invitation_invitations_destroy_with_http_info(state["pk"])
        eq(resp.status_code, 204, "status")
        state["deleted"] = True
        try:
            api.stages_invitation_invitations_retrieve(state["pk"])
        except NotFoundException as exc:
            eq(exc.status, 404, "retrieve-after-delete status")
        except ApiException as exc:
            raise CheckFailed(f"retrieve after delete: expected 404, got HTTP {exc.status}")
        else:
            raise CheckFailed("retrieve after delete succeeded, expected 404")
        return "204, then retrieve -> 404"

    def do_flow_bound() -> str:
        fname = f"rt-flow-{suffix}"
        resp = api.stages_invitation_invitations_create_with_http_info(
            InvitationRequest(name=fname, expires=EXPIRES, fixed_data=FIXED_DATA,
                              single_use=True, flow=uuid.UUID(flow_pk))
        )
        eq(resp.status_code, 201, "status")
        state["flow_inv"] = resp.data.pk
        check_raw_invitation(raw_json(resp), flow_pk)
        check_invitation(resp.data, pk=None, name=fname, single_use=True, flow_pk=flow_pk)
        slug = resp.data.flow_obj.slug
        got = api.stages_invitation_invitations_retrieve_with_http_info(state["flow_inv"])
        check_raw_invitation(raw_json(got), flow_pk)
        check_invitation(got.data, pk=state["flow_inv"], name=fname, single_use=True, flow_pk=flow_pk)
        page = api.stages_invitation_invitations_list(flow__slug=slug, search=fname)
        eq([r.pk for r in page.results], [state["flow_inv"]], "list(flow__slug, search) pks")
        dresp = api.stages_invitation_invitations_destroy_with_http_info(state["flow_inv"])
        eq(dresp.status_code, 204, "delete status")
        state["flow_inv"] = None
        return f"flow_obj.slug={slug!r} designation={resp.data.flow_obj.designation.value}"

    def do_schema() -> str:
        doc = authentik_client.SchemaApi(api_client).schema_retrieve(format="json")
        check(str(doc.get("openapi", "")).startswith("3."), f"openapi: {doc.get('openapi')!r}")
        check("/api/v3/stages/invitation/invitations/" in doc.get("paths", {}),
              "the invitations path is not in the document")
        return f"OpenAPI {doc['openapi']}"

    step("schema", do_schema, needs_pk=False)
    step("create", do_create, needs_pk=False)
    step("retrieve", do_retrieve)
    step("update", do_update)
    step("partial_update", do_partial_update)
    step("list", do_list)
    step("list_exact_filters", do_list_exact_filters)
    step("used_by", do_used_by)
    step("send_email_without_flow", do_send_email_without_flow)
    step("destroy", do_destroy)
    if flow_pk is not None:
        step("create_with_flow", do_flow_bound, needs_pk=False)
        step("send_email", do_send_email, needs_pk=False)

    # best-effort cleanup of anything a failed step left behind
    leftovers: List[Any] = []
    if state["pk"] is not None and not state["deleted"]:
        leftovers.append(state["pk"])
    for key in ("flow_inv", "mail_inv"):
        if state[key] is not None:
            leftovers.append(state[key])
    for pk in leftovers:
        try:
            api.stages_invitation_invitations_destroy(pk)
            print(f"# cleanup: deleted {pk}")
        except Exception as exc:  # noqa: BLE001
            print(f"# cleanup: could not delete {pk}: {type(exc).__name__}")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
