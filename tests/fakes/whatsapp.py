"""FakeWhatsApp: the WhatsApp Cloud API's `/<phone-number-id>/messages`, plus webhook builders.

Answers follow Meta's Graph API: `{"messaging_product", "contacts", "messages": [{"id": "wamid…"}]}`
on success and `{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}` on failure.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

from tests.fakes.base import FakeServer, Recorded, Reply, json_reply

WA_TOKEN = "EAAG-test-token"
WA_PHONE_ID = "106540352242922"
WA_APP_SECRET = "c0ffee0ddba11"
WA_VERIFY_TOKEN = "verify-me"
WA_BUYER = "5511987654321"


def graph_error(code: int, message: str, details: str = "", status: int = 400) -> dict[str, Any]:
    return {"error": {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": details or message},
                      "fbtrace_id": "AbCdEf123"}}


class FakeWhatsApp(FakeServer):
    name = "whatsapp"

    def __init__(self, token: str = WA_TOKEN, phone_number_id: str = WA_PHONE_ID) -> None:
        super().__init__()
        self.token = token
        self.phone_number_id = phone_number_id
        self._ids = itertools.count(1)
        self._refusals: list[tuple[int, str]] = []

    def refuse_next(self, code: int = 131047, details: str = "Re-engagement message") -> None:
        with self.lock:
            self._refusals.append((code, details))

    def sent(self) -> list[dict[str, Any]]:
        """JSON bodies of accepted sends."""
        return [r.json for r in self.calls("/messages", method="POST") if r.status == 200]

    def failure_body(self, status: int) -> Any:
        return graph_error(131000 if status >= 500 else 130429, f"scripted failure {status}")

    def handle(self, request: Recorded) -> Reply:
        if request.path != f"/{self.phone_number_id}/messages" or request.method != "POST":
            return json_reply(graph_error(100, "Unsupported request"), 400)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_reply(graph_error(190, "Invalid OAuth access token"), 401)
        body = request.json if isinstance(request.json, dict) else {}
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return json_reply(graph_error(100, "Invalid parameter"), 400)
        with self.lock:
            refusal = self._refusals.pop(0) if self._refusals else None
        if refusal:
            return json_reply(graph_error(refusal[0], refusal[1], refusal[1]), 400)
        wamid = f"wamid.HBgL{next(self._ids):010d}"
        return json_reply({"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                           "messages": [{"id": wamid}]})


def sign_whatsapp(body: bytes, app_secret: str = WA_APP_SECRET) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550001111", "phone_number_id": WA_PHONE_ID}, **value}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]}


def inbound_payload(text: str, *, sender: str = WA_BUYER, name: str = "Ana", msg_id: str | None = None,
                    image_caption: str | None = None) -> bytes:
    msg: dict[str, Any] = {"from": sender, "id": msg_id or f"wamid.IN{time.time_ns()}", "timestamp": "1764060000"}
    if image_caption is None:
        msg.update(type="text", text={"body": text})
    else:
        msg.update(type="image", image={"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "x",
                                        "caption": image_caption})
    value = {"contacts": [{"profile": {"name": name}, "wa_id": sender}], "messages": [msg]}
    return json.dumps(_envelope(value)).encode()


def status_payload(wamid: str, status: str, *, error_code: int | None = None) -> bytes:
    st: dict[str, Any] = {"id": wamid, "status": status, "timestamp": "1764060100", "recipient_id": WA_BUYER}
    if error_code is not None:
        st["errors"] = [{"code": error_code, "title": "Message undeliverable"}]
    return json.dumps(_envelope({"statuses": [st]})).encode()
