"""FakeTwilio: the Programmable Messaging REST API, plus builders for the webhooks Twilio sends us.

The real `twilio.rest.Client` talks to it once its http client rewrites `https://api.twilio.com`
to `fake.url` (`TWILIO_API_URL`). Answers follow the real API: 201 message resources, Twilio's
error JSON `{"code", "message", "more_info", "status"}`, and its list paging shape.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from tests.fakes.base import FakeServer, Recorded, Reply, json_reply

TEST_ACCOUNT_SID = "AC" + "5ad0e1c2b3a4f5e6" * 2
TEST_AUTH_TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
BUSINESS_WHATSAPP = "whatsapp:+14155238886"
BUSINESS_SMS = "+15005550006"
BUYER_WHATSAPP = "whatsapp:+919876543210"
BUYER_SMS = "+919876543210"

ERROR_MESSAGES = {
    63016: (
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template."
    ),
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    63007: "Twilio could not find a Channel with the specified From address",
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
}

_API = "/2010-04-01/Accounts"
_ROUTE = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+?)(?P<rest>(/Messages(/(?P<sid>[MS]M\w+))?)?)\.json$")


def twilio_error(code: int, status: int, message: str | None = None) -> dict[str, Any]:
    """Twilio's REST error body."""
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, f"Error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def rfc2822(moment: datetime) -> str:
    """Twilio's date format: "Thu, 30 Jul 2015 20:12:31 +0000"."""
    return format_datetime(moment.astimezone(UTC))


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


class FakeTwilio(FakeServer):
    """Twilio REST API for one account, checking HTTP basic auth against `account_sid`/`auth_token`.

    Serves Messages create/list/fetch/update/delete and the account fetch. `messages` holds every
    resource (outbound ones created through the API, inbound ones seeded with `add_inbound`).
    `clock` is the fake's notion of now, replaceable for date-filter tests.
    """

    name = "twilio"

    def __init__(self, account_sid: str = TEST_ACCOUNT_SID, auth_token: str = TEST_AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: dict[str, dict[str, Any]] = {}
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._order = itertools.count()

    # test helpers ---------------------------------------------------------------------------

    def sent(self) -> list[dict[str, Any]]:
        """Forms of Messages POSTs that Twilio accepted (201), oldest first.

        Every attempt, refused ones included, is in `calls("/Messages.json", method="POST")`.
        """
        return [r.form for r in self.calls("/Messages.json", method="POST") if r.status == 201]

    def refuse_next(self, code: int = 63016, message: str | None = None, status: int = 400, times: int = 1) -> None:
        """Make the next Messages create answer Twilio's error JSON for `code` (e.g. 63016, 21610)."""
        self.fail_next("/Messages.json", status, twilio_error(code, status, message), times, method="POST")

    def failure_body(self, status: int) -> Any:
        return twilio_error(int(f"20{status}"), status)

    def message(self, sid: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.messages[sid])

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> dict[str, Any]:
        """Move a message along (sent, delivered, read, failed, undelivered) as status callbacks would."""
        with self.lock:
            resource = self.messages[sid]
            resource["status"] = status
            resource["date_updated"] = rfc2822(self.clock())
            if status in {"sent", "delivered", "read"} and not resource["date_sent"]:
                resource["date_sent"] = resource["date_updated"]
            if error_code is not None:
                resource["error_code"] = error_code
                resource["error_message"] = ERROR_MESSAGES.get(error_code)
            return dict(resource)

    def add_inbound(
        self,
        body: str,
        *,
        from_: str = BUYER_WHATSAPP,
        to: str = BUSINESS_WHATSAPP,
        date_sent: datetime | None = None,
        sid: str | None = None,
    ) -> dict[str, Any]:
        """Seed an inbound message so Messages list (e.g. a 24-hour window check) can find it."""
        when = date_sent or self.clock()
        resource = self._resource(
            sid or new_sid(), {"To": to, "From": from_, "Body": body}, when, "received", "inbound"
        )
        resource["date_sent"] = rfc2822(when)
        with self.lock:
            self.messages[resource["sid"]] = resource
        return dict(resource)

    # server side ----------------------------------------------------------------------------

    def handle(self, request: Recorded) -> Reply:
        match = _ROUTE.match(request.path)
        if match is None:
            return self._not_found(request.path)
        if not self._authorized(request):
            return json_reply(twilio_error(20003, 401), 401, {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if match["account"] != self.account_sid:
            return self._not_found(request.path)
        sid, rest = match["sid"], match["rest"]
        if not rest and request.method == "GET":
            return json_reply(self._account())
        if rest == "/Messages" and request.method == "POST":
            return self._create(request.form)
        if rest == "/Messages" and request.method == "GET":
            return self._list(request.query)
        if sid:
            return self._one(request, sid)
        return json_reply(twilio_error(20004, 405, "Method not allowed"), 405)

    def _authorized(self, request: Recorded) -> bool:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    def _not_found(self, path: str) -> Reply:
        return json_reply(twilio_error(20404, 404, f"The requested resource {path} was not found"), 404)

    def _uri(self, tail: str) -> str:
        return f"{_API}/{self.account_sid}{tail}"

    def _resource(self, sid: str, form: dict[str, Any], when: datetime, status: str, direction: str) -> dict[str, Any]:
        body = str(form.get("Body", ""))
        media = form.get("MediaUrl", [])
        media = [media] if isinstance(media, str) else list(media)
        segments = 1 if len(body) <= 160 else math.ceil(len(body) / 153)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": rfc2822(when),
            "date_sent": None,
            "date_updated": rfc2822(when),
            "direction": direction,
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(media)),
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {
                "media": self._uri(f"/Messages/{sid}/Media.json"),
                "feedback": self._uri(f"/Messages/{sid}/Feedback.json"),
            },
            "to": form.get("To"),
            "uri": self._uri(f"/Messages/{sid}.json"),
            "_order": next(self._order),
        }

    def _create(self, form: dict[str, Any]) -> Reply:
        to, from_ = form.get("To"), form.get("From")
        service = form.get("MessagingServiceSid")
        if not to:
            return json_reply(twilio_error(21604, 400, "A 'To' phone number is required."), 400)
        if not from_ and not service:
            return json_reply(twilio_error(21603, 400, "A 'From' phone number is required."), 400)
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return json_reply(twilio_error(21602, 400, "Message body is required."), 400)
        content_sid = form.get("ContentSid")
        if content_sid is not None and not re.fullmatch(r"HX[0-9a-fA-F]{32}", str(content_sid)):
            return json_reply(twilio_error(21655, 400, "The ContentSid is Invalid."), 400)
        if "ContentVariables" in form:
            try:
                variables = json.loads(str(form["ContentVariables"]))
            except ValueError:
                variables = None
            if not isinstance(variables, dict):
                return json_reply(twilio_error(21656, 400, "The ContentVariables Parameter is invalid."), 400)
        if len(str(form.get("Body", ""))) > 1600:
            msg = "The concatenated message body exceeds the 1600 character limit."
            return json_reply(twilio_error(21617, 400, msg), 400)
        if from_ and str(to).startswith("whatsapp:") != str(from_).startswith("whatsapp:"):
            msg = "Invalid From and To pair. From and To should be of the same channel"
            return json_reply(twilio_error(21910, 400, msg), 400)
        status = "scheduled" if form.get("SendAt") else "accepted" if service and not from_ else "queued"
        sid = new_sid("MM" if form.get("MediaUrl") else "SM")
        resource = self._resource(sid, form, self.clock(), status, "outbound-api")
        with self.lock:
            self.messages[resource["sid"]] = resource
        return json_reply(_public(resource), 201)

    def _list(self, query: dict[str, Any]) -> Reply:
        def when(resource: dict[str, Any]) -> datetime:
            return parsedate_to_datetime(resource["date_sent"] or resource["date_created"])

        with self.lock:
            found = sorted(self.messages.values(), key=lambda m: (when(m), m["_order"]), reverse=True)
        if "To" in query:
            found = [m for m in found if m["to"] == query["To"]]
        if "From" in query:
            found = [m for m in found if m["from"] == query["From"]]
        if "DateSent" in query:
            day = _parse_when(query["DateSent"]).date()
            found = [m for m in found if when(m).date() == day]
        if "DateSent>" in query:
            after = _parse_when(query["DateSent>"])
            found = [m for m in found if when(m) >= after]
        if "DateSent<" in query:
            before = _parse_when(query["DateSent<"])
            found = [m for m in found if when(m) <= before]
        size = int(query.get("PageSize", 50))
        page = int(query.get("Page", 0))
        start = page * size
        chunk = found[start : start + size]
        filters = {k: v for k, v in query.items() if k not in {"Page", "PageSize", "PageToken"}}

        def page_uri(number: int) -> str:
            params = urlencode({**filters, "PageSize": size, "Page": number})
            return self._uri(f"/Messages.json?{params}")

        has_next = start + size < len(found)
        return json_reply(
            {
                "messages": [_public(m) for m in chunk],
                "end": start + max(len(chunk), 1) - 1,
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) + f"&PageToken=PASM{start + size}" if has_next else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": start,
                "uri": page_uri(page),
            }
        )

    def _one(self, request: Recorded, sid: str) -> Reply:
        with self.lock:
            resource = self.messages.get(sid)
            if resource is None:
                return self._not_found(request.path)
            if request.method == "DELETE":
                del self.messages[sid]
                return Reply(204, b"", "application/json")
            if request.method == "POST":
                if "Body" in request.form:
                    resource["body"] = request.form["Body"]
                if request.form.get("Status") == "canceled":
                    resource["status"] = "canceled"
                resource["date_updated"] = rfc2822(self.clock())
            return json_reply(_public(resource))

    def _account(self) -> dict[str, Any]:
        created = rfc2822(datetime(2023, 1, 5, 9, 30, tzinfo=UTC))
        return {
            "sid": self.account_sid,
            "owner_account_sid": self.account_sid,
            "friendly_name": "Trademate Test",
            "status": "active",
            "type": "Full",
            "auth_token": self.auth_token,
            "date_created": created,
            "date_updated": created,
            "uri": self._uri(".json"),
            "subresource_uris": {
                "messages": self._uri("/Messages.json"),
                "incoming_phone_numbers": self._uri("/IncomingPhoneNumbers.json"),
                "balance": self._uri("/Balance.json"),
            },
        }


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def _parse_when(value: str) -> datetime:
    """Twilio date filters arrive as YYYY-MM-DD or, from the Python SDK, YYYY-MM-DDTHH:MM:SSZ."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Webhook builders ---------------------------------------------------------------------------------


def sign_twilio(url: str, params: dict[str, Any], auth_token: str = TEST_AUTH_TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send for a POST of `params` to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def inbound_form(
    body: str = "Hi, do you have 40 HQ containers of basmati rice? Need price CIF Jebel Ali.",
    *,
    from_: str = BUYER_WHATSAPP,
    to: str = BUSINESS_WHATSAPP,
    profile_name: str = "Omar Haddad",
    media: list[tuple[str, str]] | None = None,
    message_sid: str | None = None,
    account_sid: str = TEST_ACCOUNT_SID,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The form Twilio POSTs to our inbound webhook; WhatsApp or SMS follows the `from_` prefix.

    `media` is a list of (url, content type) pairs, sent as MediaUrlN/MediaContentTypeN.
    """
    media = media or []
    sid = message_sid or new_sid("MM" if media else "SM")
    form: dict[str, str] = {
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }
    if from_.startswith("whatsapp:"):
        wa_id = from_.removeprefix("whatsapp:+")
        form.update(
            ProfileName=profile_name,
            WaId=wa_id,
            MessageType=_whatsapp_type(media),
            ReferralNumMedia="0",
            ChannelMetadata=json.dumps(
                {"type": "whatsapp", "data": {"context": {"ProfileName": profile_name, "WaId": wa_id}}},
                separators=(",", ":"),
            ),
        )
    else:
        form.update(FromCountry=_country(from_), FromState="", FromCity="", FromZip="")
        form.update(ToCountry=_country(to), ToState="", ToCity="", ToZip="")
    for index, (url, content_type) in enumerate(media):
        form[f"MediaUrl{index}"] = url
        form[f"MediaContentType{index}"] = content_type
    form.update(extra or {})
    return form


def _country(number: str) -> str:
    prefixes = {"+1": "US", "+44": "GB", "+49": "DE", "+91": "IN", "+86": "CN", "+971": "AE", "+966": "SA"}
    return next((c for p, c in sorted(prefixes.items(), key=lambda i: -len(i[0])) if number.startswith(p)), "")


def _whatsapp_type(media: list[tuple[str, str]]) -> str:
    if not media:
        return "text"
    kind = media[0][1].split("/", 1)[0]
    return {"image": "image", "audio": "audio", "video": "video"}.get(kind, "document")


def status_form(
    message_sid: str,
    status: str,
    error_code: int | None = None,
    *,
    to: str = BUYER_WHATSAPP,
    from_: str = BUSINESS_WHATSAPP,
    account_sid: str = TEST_ACCOUNT_SID,
) -> dict[str, str]:
    """The form Twilio POSTs to a message's StatusCallback (queued/sent/delivered/read/failed/...)."""
    form: dict[str, str] = {
        "SmsSid": message_sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to,
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }
    if to.startswith("whatsapp:"):
        form.update(
            ChannelPrefix="whatsapp",
            ChannelToAddress=to.removeprefix("whatsapp:"),
            ChannelInstallSid="XE" + "0f1e2d3c4b5a6978" * 2,
            StructuredMessage="false",
        )
    if error_code is not None:
        form["ErrorCode"] = str(error_code)
        if error_code in ERROR_MESSAGES:
            form["ErrorMessage"] = ERROR_MESSAGES[error_code]
    return form
