#!/usr/bin/env python3
"""An SMTP server for tests: it accepts mail on 127.0.0.1 and writes each
message it receives into a directory as one JSON file.

Usage: smtp-sink.py PORT DIR [--auth USER:PASSWORD]

Each message becomes DIR/<sequence>-<uuid>.json, written under a temporary
name and renamed, so a reader never sees half a file:

    {"mail_from": "...", "rcpt_tos": ["..."], "data": "<the raw message>",
     "authenticated_as": "user" or null,
     "headers": [["Name", "value"], ...],       # the top-level headers
     "parts": [{"content_type": "text/plain", "text": "..."}, ...]}

("headers" and "parts" are the message as Python's email package reads it,
transfer encodings undone, for the tests' convenience.)

- A recipient whose address starts with "reject" is refused with
  550 5.1.1, so a test can provoke a permanent failure.
- With --auth, AUTH PLAIN and LOGIN are offered without TLS and required
  before MAIL; wrong credentials get 535 5.7.8.
- It prints "ready" on standard output once it accepts connections, and
  exits when its standard input closes (its parent is gone) or on SIGTERM.

Needs aiosmtpd (scripts/smtp-sink.requirements.txt).
"""

import argparse
import email
import email.policy
import itertools
import json
import os
import signal
import sys
import threading
import uuid
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.sequence = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("reject"):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = []
        for part in message.walk():
            if part.is_multipart():
                continue
            try:
                text = part.get_content()
            except (KeyError, LookupError, ValueError):
                text = None
            parts.append({"content_type": part.get_content_type(), "text": text})
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": raw.decode("utf-8", errors="replace"),
            "authenticated_as": session.auth_data.login.decode("utf-8", errors="replace")
            if session.authenticated and isinstance(session.auth_data, LoginPassword)
            else None,
            "headers": [[name, str(value)] for name, value in message.items()],
            "parts": parts,
        }
        name = f"{next(self.sequence):06d}-{uuid.uuid4().hex}.json"
        temporary = os.path.join(self.directory, f".{name}.tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.rename(temporary, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user
            and auth_data.password == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return check


def main():
    parser = argparse.ArgumentParser(description="An SMTP server that writes what it receives as JSON.")
    parser.add_argument("port", type=int)
    parser.add_argument("directory")
    parser.add_argument("--auth", metavar="USER:PASSWORD")
    args = parser.parse_args()
    # AUTH without TLS is what the tests want: no warning about it.
    warnings.simplefilter("ignore")
    os.makedirs(args.directory, exist_ok=True)

    options = {}
    if args.auth:
        user, _, password = args.auth.partition(":")
        options = {
            "authenticator": authenticator(user.encode(), password.encode()),
            "auth_required": True,
            "auth_require_tls": False,
        }
    controller = Controller(
        Sink(args.directory), hostname="127.0.0.1", port=args.port, **options
    )
    controller.start()
    print("ready", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def wait_for_eof():
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
