#!/usr/bin/env node
// Round-trips the invitation API through authentik's generated TypeScript
// client (`@goauthentik/api` from npm, version pinned in package.json), run
// as its compiled CommonJS build on Node's own fetch.
//
// Every answer is read twice: through the client's model functions
// (`InvitationFromJSON` and friends, what a web front end sees) and as raw
// JSON, because the models map an absent key and `null` alike and would not
// notice a missing one.
//
// Where this client differs from the Python one, the differences are checked
// on purpose: it sends `expires` as `Date.toISOString()` (with milliseconds,
// `2099-01-01T00:00:00.000Z`), in bodies and in the `expires` list filter, and
// it offers the exact filters `name`, `createdByUsername` and `flowSlug`.
//
// Environment:
//   AUTHENTIK_URL      base URL without /api/v3, e.g. http://127.0.0.1:9000
//   AUTHENTIK_TOKEN    API token, sent as "Authorization: Bearer <token>"
//   AUTHENTIK_FLOW_PK  optional flow UUID that exists on the server; when set,
//                      a step creates an invitation bound to it, and another
//                      mails one (send_email).
//   SMTP_SINK_DIR      optional directory scripts/smtp-sink.py writes the
//                      server's mail into; when set, send_email's mail must
//                      arrive there within 15 s.
//   MAIL_PUBLIC_URL    optional: the server's --public-url, which the mailed
//                      link must start with.
//
// send_email (`stagesInvitationInvitationsSendEmailCreate`) is called for an
// invitation bound to the flow (204) and for one without a flow (400
// `{"error": "Invitation has no associated flow"}`).
//
// Output: one line per step, then "<n> passed, <m> failed". Exit code 0 only
// when nothing failed; 2 when the environment is wrong.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { isDeepStrictEqual } = require("node:util");

let ak;
try {
    ak = require("@goauthentik/api");
} catch (error) {
    console.log(`cannot load @goauthentik/api (${error.message}); run npm ci in tests/node`);
    process.exit(2);
}

const INVITATION_KEYS = [
    "pk", "name", "expires", "fixed_data", "created_by", "single_use", "flow", "flow_obj",
];
const PARTIAL_USER_KEYS = [
    "pk", "username", "name", "is_active", "last_login", "email", "attributes", "uid",
];
const FLOW_KEYS = [
    "pk", "policybindingmodel_ptr_id", "name", "slug", "title", "designation",
    "background", "background_url", "background_themed_urls", "stages", "policies",
    "cache_count", "policy_engine_mode", "compatibility_mode", "export_url", "layout",
    "denied_action", "authentication",
];
const LIST_KEYS = ["pagination", "results", "autocomplete"];
const PAGINATION_KEYS = [
    "next", "previous", "count", "current", "total_pages", "start_index", "end_index",
];

const EXPIRES = new Date(Date.UTC(2099, 0, 1, 0, 0, 0));
const FIXED_DATA = { email: "x@example.org", nested: { team: "qa", tags: ["a", "b"] } };

class CheckFailed extends Error {}

function check(condition, message) {
    if (!condition) throw new CheckFailed(message);
}

// JSON equality: the order of an object's keys does not count (the spec fixes
// it for the invitation's own keys only, which checkKeys does not look at).
function same(actual, expected, what) {
    check(isDeepStrictEqual(actual, expected),
        `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function checkKeys(object, keys, what) {
    check(object !== null && typeof object === "object" && !Array.isArray(object),
        `${what}: expected a JSON object, got ${JSON.stringify(object)}`);
    const missing = keys.filter((key) => !(key in object));
    check(missing.length === 0, `${what}: missing keys ${missing.join(", ")}`);
}

// Calls one of the client's `...Raw` methods and gives back the model value
// together with the raw JSON of the same answer.
async function both(rawCall) {
    const response = await rawCall;
    const raw = await response.raw.clone().json();
    return { status: response.raw.status, raw, value: await response.value() };
}

function checkRawInvitation(raw, flowPk) {
    checkKeys(raw, INVITATION_KEYS, "invitation");
    checkKeys(raw.created_by, PARTIAL_USER_KEYS, "invitation.created_by");
    if (flowPk === null) {
        same(raw.flow, null, "invitation.flow");
        same(raw.flow_obj, null, "invitation.flow_obj when flow is null");
    } else {
        checkKeys(raw.flow_obj, FLOW_KEYS, "invitation.flow_obj");
    }
}

function checkInvitation(invitation, { pk, name, singleUse, flowPk }) {
    check(typeof invitation.pk === "string" && invitation.pk.length === 36,
        `pk is not a dashed UUID: ${JSON.stringify(invitation.pk)}`);
    if (pk !== null) same(invitation.pk, pk, "pk");
    same(invitation.name, name, "name");
    check(invitation.expires instanceof Date && invitation.expires.getTime() === EXPIRES.getTime(),
        `expires: expected ${EXPIRES.toISOString()}, got ${invitation.expires}`);
    same(invitation.fixedData, FIXED_DATA, "fixedData");
    same(invitation.singleUse, singleUse, "singleUse");
    check(invitation.createdBy && invitation.createdBy.username, "createdBy.username is empty");
    if (flowPk === null) {
        check(invitation.flow === undefined, `flow: expected none, got ${invitation.flow}`);
        check(invitation.flowObj === null, `flowObj: expected null, got ${invitation.flowObj}`);
    } else {
        same(invitation.flow, flowPk, "flow");
        check(invitation.flowObj, "flowObj is null although flow is set");
        same(invitation.flowObj.pk, flowPk, "flowObj.pk");
        check(invitation.flowObj.slug, "flowObj.slug is empty");
    }
}

// Runs `call`, which must be refused by the server with `status`; gives back
// the error body as JSON.
async function refusedWithBody(call, status, what) {
    try {
        await call;
    } catch (error) {
        check(error instanceof ak.ResponseError, `${what}: ${error.name}: ${error.message}`);
        same(error.response.status, status, `${what}: status`);
        return error.response.json();
    }
    throw new CheckFailed(`${what}: expected HTTP ${status}, the call succeeded`);
}

// The same for a refusal in authentik's `{"detail", "code"}` shape.
async function refused(call, status, what) {
    const body = await refusedWithBody(call, status, what);
    check(typeof body.code === "string", `${what}: no "code" in ${JSON.stringify(body)}`);
    return body;
}

// The first mail the SMTP sink wrote with `address` among its envelope
// recipients, waiting up to `timeoutMs` for it.
async function waitForMail(directory, address, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        for (const name of fs.readdirSync(directory).sort()) {
            if (!name.endsWith(".json") || name.startsWith(".")) continue;
            const record = JSON.parse(fs.readFileSync(path.join(directory, name), "utf8"));
            if ((record.rcpt_tos || []).includes(address)) return record;
        }
        if (Date.now() > deadline) {
            throw new CheckFailed(`no mail to ${address} in ${directory} after ${timeoutMs / 1000} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
}

function header(record, name) {
    const found = record.headers.find(([key]) => key.toLowerCase() === name.toLowerCase());
    return found ? found[1] : undefined;
}

async function main() {
    let base = (process.env.AUTHENTIK_URL || "").trim().replace(/\/+$/, "");
    const token = (process.env.AUTHENTIK_TOKEN || "").trim();
    const flowPk = (process.env.AUTHENTIK_FLOW_PK || "").trim().toLowerCase() || null;
    const mailDir = (process.env.SMTP_SINK_DIR || "").trim() || null;
    const publicUrl = (process.env.MAIL_PUBLIC_URL || "").trim().replace(/\/+$/, "") || null;
    if (!base || !token) {
        console.log("AUTHENTIK_URL and AUTHENTIK_TOKEN must be set");
        return 2;
    }
    base = base.replace(/\/api\/v3$/, "");
    const version = require("@goauthentik/api/package.json").version;
    console.log(`# @goauthentik/api ${version} on Node ${process.version} against ${base}/api/v3`);

    const config = new ak.Configuration({ basePath: `${base}/api/v3`, accessToken: token });
    const api = new ak.StagesApi(config);
    const suffix = crypto.randomBytes(4).toString("hex");
    const state = {
        pk: null, name: `rt-${suffix}`, deleted: false, flowInvitation: null, mailInvitation: null,
    };
    let passed = 0;
    let failed = 0;

    async function step(label, fn, needsPk = true) {
        if (needsPk && state.pk === null) {
            failed += 1;
            console.log(`FAIL ${label}: skipped, no invitation was created`);
            return;
        }
        try {
            const detail = await fn();
            passed += 1;
            console.log(`PASS ${label}: ${detail}`);
        } catch (error) {
            failed += 1;
            if (error instanceof ak.ResponseError) {
                const body = (await error.response.text()).slice(0, 300);
                console.log(`FAIL ${label}: HTTP ${error.response.status}: ${body}`);
            } else if (error instanceof CheckFailed) {
                console.log(`FAIL ${label}: ${error.message}`);
            } else {
                console.log(`FAIL ${label}: ${error.name}: ${error.message}`);
            }
        }
    }

    await step("schema", async () => {
        const doc = await new ak.SchemaApi(config).schemaRetrieve({ format: "json" });
        check(String(doc.openapi).startsWith("3."), `openapi: ${JSON.stringify(doc.openapi)}`);
        check("/api/v3/stages/invitation/invitations/" in (doc.paths || {}),
            "the invitations path is not in the document");
        return `OpenAPI ${doc.openapi}`;
    }, false);

    await step("create", async () => {
        const { status, raw, value } = await both(api.stagesInvitationInvitationsCreateRaw({
            invitationRequest: { name: state.name, expires: EXPIRES, fixedData: FIXED_DATA, singleUse: true },
        }));
        same(status, 201, "status");
        state.pk = value.pk;
        checkRawInvitation(raw, null);
        checkInvitation(value, { pk: null, name: state.name, singleUse: true, flowPk: null });
        return `pk=${value.pk} createdBy=${value.createdBy.username}`;
    }, false);

    await step("retrieve", async () => {
        const { status, raw, value } = await both(
            api.stagesInvitationInvitationsRetrieveRaw({ inviteUuid: state.pk }));
        same(status, 200, "status");
        checkRawInvitation(raw, null);
        checkInvitation(value, { pk: state.pk, name: state.name, singleUse: true, flowPk: null });
        return "fields match";
    });

    await step("update", async () => {
        const name = `rt-upd-${suffix}`;
        const { status, raw, value } = await both(api.stagesInvitationInvitationsUpdateRaw({
            inviteUuid: state.pk,
            invitationRequest: { name, expires: EXPIRES, fixedData: FIXED_DATA, singleUse: true },
        }));
        state.name = name;
        same(status, 200, "status");
        checkRawInvitation(raw, null);
        checkInvitation(value, { pk: state.pk, name, singleUse: true, flowPk: null });
        return `name=${name}`;
    });

    await step("partial_update", async () => {
        const { status, raw, value } = await both(api.stagesInvitationInvitationsPartialUpdateRaw({
            inviteUuid: state.pk,
            patchedInvitationRequest: { singleUse: false },
        }));
        same(status, 200, "status");
        checkRawInvitation(raw, null);
        checkInvitation(value, { pk: state.pk, name: state.name, singleUse: false, flowPk: null });
        return "singleUse=false, other fields unchanged";
    });

    await step("list", async () => {
        const { status, raw, value } = await both(
            api.stagesInvitationInvitationsListRaw({ search: state.name }));
        same(status, 200, "status");
        checkKeys(raw, LIST_KEYS, "list");
        checkKeys(raw.pagination, PAGINATION_KEYS, "list.pagination");
        same(value.pagination, {
            next: 0, previous: 0, count: 1, current: 1, totalPages: 1, startIndex: 1, endIndex: 1,
        }, "pagination");
        same(value.results.map((invitation) => invitation.pk), [state.pk], "results' pks");
        checkRawInvitation(raw.results[0], null);
        checkInvitation(value.results[0], { pk: state.pk, name: state.name, singleUse: false, flowPk: null });
        same(value.autocomplete, {}, "autocomplete");
        return `search=${state.name} -> count=1`;
    });

    await step("list_exact_filters", async () => {
        const username = (await api.stagesInvitationInvitationsRetrieve({ inviteUuid: state.pk }))
            .createdBy.username;
        const filters = [
            { name: state.name },
            { name: state.name, createdByUsername: username },
            { name: state.name, expires: EXPIRES },
            { name: state.name, ordering: "-expires", page: 1, pageSize: 5 },
        ];
        for (const filter of filters) {
            const page = await api.stagesInvitationInvitationsList(filter);
            same(page.results.map((invitation) => invitation.pk), [state.pk],
                `list(${JSON.stringify(filter)}) pks`);
        }
        const none = await api.stagesInvitationInvitationsList({
            name: state.name, expires: new Date(EXPIRES.getTime() + 1000),
        });
        same(none.pagination.count, 0, "list(name, expires one second later) count");
        return `name, createdByUsername=${username}, expires=${EXPIRES.toISOString()}, ordering/page`;
    });

    await step("used_by", async () => {
        const { status, raw, value } = await both(
            api.stagesInvitationInvitationsUsedByListRaw({ inviteUuid: state.pk }));
        same(status, 200, "status");
        same(raw, [], "raw body");
        same(value, [], "usedBy");
        return "[]";
    });

    await step("refusals", async () => {
        const invalid = await refused(api.stagesInvitationInvitationsCreate({
            invitationRequest: { name: "Not A Slug!", expires: EXPIRES },
        }), 400, "create with an invalid name");
        same(invalid.code, "invalid", "invalid name: code");
        check(Array.isArray(invalid.name), `invalid name: no "name" errors in ${JSON.stringify(invalid)}`);
        const stranger = new ak.StagesApi(new ak.Configuration({
            basePath: `${base}/api/v3`, accessToken: `not-${token}`,
        }));
        const unknown = await refused(stranger.stagesInvitationInvitationsDestroy({ inviteUuid: state.pk }),
            403, "delete with an unknown token");
        same(unknown, { detail: "Token invalid/expired", code: "authentication_failed" }, "unknown token body");
        const missing = await refused(api.stagesInvitationInvitationsRetrieve({
            inviteUuid: crypto.randomUUID(),
        }), 404, "retrieve of an unknown pk");
        same(missing, { detail: "No Invitation matches the given query.", code: "not_found" }, "404 body");
        const still = await api.stagesInvitationInvitationsRetrieve({ inviteUuid: state.pk });
        same(still.name, state.name, "the invitation after the refused delete: name");
        return "400 invalid, 403 unknown token (nothing deleted), 404 unknown pk";
    });

    await step("send_email_without_flow", async () => {
        check(typeof api.stagesInvitationInvitationsSendEmailCreate === "function",
            `@goauthentik/api ${version} has no stagesInvitationInvitationsSendEmailCreate`);
        const body = await refusedWithBody(api.stagesInvitationInvitationsSendEmailCreate({
            inviteUuid: state.pk,
            invitationSendEmailRequest: { emailAddresses: [`rt-noflow-${suffix}@example.org`] },
        }), 400, "send_email without a flow");
        same(body, { error: "Invitation has no associated flow" }, "body");
        return '400 {"error": "Invitation has no associated flow"}';
    });

    await step("destroy", async () => {
        const response = await api.stagesInvitationInvitationsDestroyRaw({ inviteUuid: state.pk });
        same(response.raw.status, 204, "status");
        same(await response.raw.text(), "", "body");
        state.deleted = true;
        const gone = await refused(api.stagesInvitationInvitationsRetrieve({ inviteUuid: state.pk }),
            404, "retrieve after delete");
        same(gone.code, "not_found", "retrieve after delete: code");
        return "204, then retrieve -> 404";
    });

    if (flowPk !== null) {
        await step("create_with_flow", async () => {
            const name = `rt-flow-${suffix}`;
            const { status, raw, value } = await both(api.stagesInvitationInvitationsCreateRaw({
                invitationRequest: {
                    name, expires: EXPIRES, fixedData: FIXED_DATA, singleUse: true, flow: flowPk,
                },
            }));
            same(status, 201, "status");
            state.flowInvitation = value.pk;
            checkRawInvitation(raw, flowPk);
            checkInvitation(value, { pk: null, name, singleUse: true, flowPk });
            const slug = value.flowObj.slug;
            const page = await api.stagesInvitationInvitationsList({ flowSlug: slug, search: name });
            same(page.results.map((invitation) => invitation.pk), [state.flowInvitation],
                "list(flowSlug, search) pks");
            checkInvitation(page.results[0], { pk: state.flowInvitation, name, singleUse: true, flowPk });
            await api.stagesInvitationInvitationsDestroy({ inviteUuid: state.flowInvitation });
            state.flowInvitation = null;
            return `flowObj.slug=${slug} designation=${value.flowObj.designation}`;
        }, false);
    }

    if (flowPk !== null) {
        await step("send_email", async () => {
            check(typeof api.stagesInvitationInvitationsSendEmailCreate === "function",
                `@goauthentik/api ${version} has no stagesInvitationInvitationsSendEmailCreate`);
            const created = await api.stagesInvitationInvitationsCreate({
                invitationRequest: { name: `rt-mail-${suffix}`, expires: EXPIRES, flow: flowPk },
            });
            state.mailInvitation = created.pk;
            const to = `rt-to-${suffix}@example.org`;
            const response = await api.stagesInvitationInvitationsSendEmailCreateRaw({
                inviteUuid: created.pk,
                invitationSendEmailRequest: { emailAddresses: [to] },
            });
            same(response.raw.status, 204, "status");
            same(await response.raw.text(), "", "body");
            let detail = "204";
            if (mailDir !== null) {
                const mail = await waitForMail(mailDir, to);
                same(mail.rcpt_tos, [to], "envelope recipients");
                same(header(mail, "To"), to, "To");
                const link = `${publicUrl || ""}/if/flow/${created.flowObj.slug}/?itoken=${created.pk}`;
                check(mail.parts.some((part) => (part.text || "").includes(link)),
                    `no part holds the link ${link}`);
                detail += `, mailed to ${to} with ${link}`;
            }
            await api.stagesInvitationInvitationsDestroy({ inviteUuid: created.pk });
            state.mailInvitation = null;
            return detail;
        }, false);
    }

    // Best-effort cleanup of what a failed step left behind.
    const leftovers = [];
    if (state.pk !== null && !state.deleted) leftovers.push(state.pk);
    if (state.flowInvitation !== null) leftovers.push(state.flowInvitation);
    if (state.mailInvitation !== null) leftovers.push(state.mailInvitation);
    for (const pk of leftovers) {
        try {
            await api.stagesInvitationInvitationsDestroy({ inviteUuid: pk });
            console.log(`# cleanup: deleted ${pk}`);
        } catch (error) {
            console.log(`# cleanup: could not delete ${pk}: ${error.name}`);
        }
    }

    console.log(`${passed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
}

main().then(
    (code) => process.exit(code),
    (error) => {
        console.log(`unexpected: ${error.stack || error}`);
        process.exit(1);
    },
);
