"""FakeTelegram: the Telegram Bot API at `/bot<token>/<method>`, files at `/file/bot<token>/<path>`.

python-telegram-bot is pointed at it with `.base_url(fake.url + "/bot")` and
`.base_file_url(fake.url + "/file/bot")` (or `TELEGRAM_API_URL=fake.url`). PTB sends form bodies
whose non-string values are JSON text, and multipart bodies for uploads; `args(method)` gives
them back decoded. Updates queued with `push_update` are served by `getUpdates` (long poll).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

from tests.fakes.base import FakeServer, Recorded, Reply, UploadedFile, json_reply

TELEGRAM_TOKEN = "7012345678:AAH-TrademateFakeBotToken-0123456789"
REP_CHAT_ID = 501234567
REP_USER = {
    "id": REP_CHAT_ID,
    "is_bot": False,
    "first_name": "Asha",
    "last_name": "Verma",
    "username": "asha_sales",
    "language_code": "en",
}

_JSON_FIELDS = {
    "reply_markup",
    "entities",
    "caption_entities",
    "commands",
    "allowed_updates",
    "scope",
    "link_preview_options",
    "reply_parameters",
    "media",
    "results",
    "reaction",
}
_INT_FIELDS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "message_thread_id",
    "reply_to_message_id",
    "user_id",
    "cache_time",
    "from_chat_id",
    "max_connections",
}
_TEXT_FIELDS = {
    "text",
    "caption",
    "query",
    "description",
    "title",
    "url",
    "secret_token",
    "callback_query_id",
    "inline_message_id",
    "parse_mode",
    "file_id",
    "callback_data",
}


def normalize_args(request: Recorded) -> dict[str, Any]:
    """A call's parameters as values again: JSON fields decoded, ids as ints, "true"/"false" as bools."""
    args: dict[str, Any] = {**request.args, **request.files}
    for key, value in list(args.items()):
        if not isinstance(value, str) or key in _TEXT_FIELDS:
            continue
        if key in _JSON_FIELDS and value[:1] in "[{":
            try:
                args[key] = json.loads(value)
            except ValueError:
                pass
        elif key in _INT_FIELDS and value.lstrip("-").isdigit():
            args[key] = int(value)
        elif value in ("true", "false"):
            args[key] = value == "true"
    return args


class FakeTelegram(FakeServer):
    """Bot API for one bot; `token` None accepts any token, otherwise others get 401 Unauthorized.

    State kept like Telegram: sent messages per chat (edits apply to them), the webhook, pending
    updates and uploaded/added files. `chats` holds Chat overrides by id.
    """

    name = "telegram"

    def __init__(self, token: str | None = None, *, bot_username: str = "trademate_test_bot") -> None:
        super().__init__()
        self.token = token
        prefix = (token or "").split(":", 1)[0]
        self.bot_user = {
            "id": int(prefix) if prefix.isdigit() else 7012345678,
            "is_bot": True,
            "first_name": "Trademate",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.chats: dict[int | str, dict[str, Any]] = {}
        self.sent: dict[tuple[int, int], dict[str, Any]] = {}
        """Messages the bot sent, by (chat id, message id), with edits applied."""
        self.webhook: dict[str, Any] = {"url": ""}
        self.files: dict[str, tuple[str, bytes]] = {}
        """file_id -> (file_path, content): what getFile and the file URL serve."""
        self.long_poll_cap = 0.5
        """Longest a getUpdates waits, whatever timeout the client asks for: keeps tests fast."""
        self._pending: list[dict[str, Any]] = []
        self._update_ids = itertools.count(100_000_001)
        self._message_ids = itertools.count(1001)

    # test helpers ---------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (an `update_id` is assigned if missing); returns its id."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        with self.lock:
            self._pending.append(update)
        self.notify()
        return int(update["update_id"])

    def pending_updates(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._pending)

    def args(self, bot_method: str) -> list[dict[str, Any]]:
        """Decoded parameters of every call to `bot_method` (e.g. "sendMessage"), in order."""
        wanted = bot_method.lower()
        return [
            normalize_args(r)
            for r in self.requests
            if r.path.startswith("/bot") and r.path.rsplit("/", 1)[-1].lower() == wanted
        ]

    def messages(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Parameters of every sendMessage, optionally to one chat."""
        return [a for a in self.args("sendMessage") if chat_id is None or a.get("chat_id") == chat_id]

    def last_sent(self, chat_id: int | None = None) -> dict[str, Any]:
        """The latest message the bot sent (edits applied), e.g. to build a `callback_update` tap on it."""
        with self.lock:
            found = [m for (chat, _), m in self.sent.items() if chat_id is None or chat == chat_id]
        if not found:
            raise AssertionError(f"fake telegram: the bot sent nothing to chat {chat_id}")
        return dict(found[-1])

    def add_file(self, content: bytes, file_path: str | None = None) -> str:
        """Make a file downloadable through getFile + the file URL; returns its file_id."""
        file_id = "AgAC" + secrets.token_hex(12)
        with self.lock:
            self.files[file_id] = (file_path or f"documents/file_{len(self.files)}.bin", content)
        return file_id

    def failure_body(self, status: int) -> Any:
        descriptions = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden: bot was blocked by the user",
            404: "Not Found",
            409: "Conflict",
            429: "Too Many Requests: retry after 1",
        }
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": descriptions.get(status, "Internal Server Error"),
        }
        if status == 429:
            body["parameters"] = {"retry_after": 1}
        return body

    # server side ----------------------------------------------------------------------------

    def handle(self, request: Recorded) -> Reply:
        path = request.path
        if path.startswith("/file/bot"):
            return self._download(path.removeprefix("/file/bot"))
        if not path.startswith("/bot") or path.count("/") != 2:
            return _fail(404, "Not Found")
        token, _, bot_method = path.removeprefix("/bot").partition("/")
        if self.token is not None and token != self.token:
            return _fail(401, "Unauthorized")
        args = normalize_args(request)
        handler = getattr(self, "_api_" + bot_method.lower(), None)
        if handler is not None:
            reply: Reply = handler(args)
            return reply
        if bot_method.lower().startswith("send"):
            return self._send(args, bot_method)
        return _ok(True)

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = {
                "id": -1001000000000 - len(chat_id),
                "type": "channel",
                "title": chat_id[1:],
                "username": chat_id[1:],
            }
        elif isinstance(chat_id, int) and chat_id < 0:
            chat = {"id": chat_id, "type": "supergroup", "title": "Trademate Sales"}
        else:
            chat = {
                "id": int(chat_id),
                "type": "private",
                "first_name": REP_USER["first_name"],
                "last_name": REP_USER["last_name"],
                "username": REP_USER["username"],
            }
        with self.lock:
            chat.update(self.chats.get(chat_id, {}))
        return chat

    def _send(self, args: dict[str, Any], bot_method: str) -> Reply:
        if "chat_id" not in args:
            return _fail(400, "Bad Request: chat_id is empty")
        chat = self._chat(args["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
        }
        for key in ("text", "entities", "caption", "caption_entities", "message_thread_id"):
            if key in args:
                message[key] = args[key]
        if isinstance(args.get("reply_markup"), dict) and "inline_keyboard" in args["reply_markup"]:
            message["reply_markup"] = args["reply_markup"]
        kind = bot_method.lower().removeprefix("send")
        if kind == "message" and not str(args.get("text", "")).strip():
            return _fail(400, "Bad Request: message text is empty")
        if kind == "photo":
            message["photo"] = self._photo_sizes(args.get("photo"))
        elif kind == "document":
            message["document"] = self._document(args.get("document"))
        with self.lock:
            self.sent[(chat["id"], message["message_id"])] = message
        return _ok(message)

    def _stored_file(self, upload: Any, default_path: str) -> tuple[str, int]:
        if isinstance(upload, UploadedFile):
            file_id = "AgAC" + secrets.token_hex(12)
            with self.lock:
                self.files[file_id] = (default_path.format(n=len(self.files)), upload.content)
            return file_id, len(upload.content)
        return str(upload), 0

    def _photo_sizes(self, upload: Any) -> list[dict[str, Any]]:
        file_id, size = self._stored_file(upload, "photos/file_{n}.jpg")
        return [
            {
                "file_id": file_id + suffix,
                "file_unique_id": f"AQAD{suffix}{file_id[-8:]}",
                "width": w,
                "height": h,
                "file_size": size * w // 1280,
            }
            for suffix, w, h in (("_s", 90, 68), ("_m", 320, 240), ("", 1280, 960))
        ]

    def _document(self, upload: Any) -> dict[str, Any]:
        file_id, size = self._stored_file(upload, "documents/file_{n}")
        name = upload.filename if isinstance(upload, UploadedFile) else None
        return {
            "file_id": file_id,
            "file_unique_id": "AgAD" + file_id[-8:],
            "file_name": name or "file",
            "file_size": size,
        }

    def _edit(self, args: dict[str, Any], changes: dict[str, Any]) -> Reply:
        if "inline_message_id" in args:
            return _ok(True)
        with self.lock:
            message = self.sent.get((args.get("chat_id"), args.get("message_id")))
            if message is None:
                return _fail(400, "Bad Request: message to edit not found")
            updated = {**message, **changes}
            if "reply_markup" not in changes:
                updated.pop("reply_markup", None)
            if updated == message:
                return _fail(
                    400,
                    "Bad Request: message is not modified: specified new message content "
                    "and reply markup are exactly the same as a current content and reply "
                    "markup of the message",
                )
            updated["edit_date"] = int(time.time())
            self.sent[(args["chat_id"], args["message_id"])] = updated
        return _ok(updated)

    def _api_editmessagetext(self, args: dict[str, Any]) -> Reply:
        changes: dict[str, Any] = {"text": args.get("text", "")}
        if "entities" in args:
            changes["entities"] = args["entities"]
        if isinstance(args.get("reply_markup"), dict):
            changes["reply_markup"] = args["reply_markup"]
        return self._edit(args, changes)

    def _api_editmessagereplymarkup(self, args: dict[str, Any]) -> Reply:
        markup = args.get("reply_markup")
        return self._edit(args, {"reply_markup": markup} if isinstance(markup, dict) else {})

    def _api_deletemessage(self, args: dict[str, Any]) -> Reply:
        with self.lock:
            if self.sent.pop((args.get("chat_id"), args.get("message_id")), None) is None:
                return _fail(400, "Bad Request: message to delete not found")
        return _ok(True)

    def _api_sendchataction(self, args: dict[str, Any]) -> Reply:
        return _ok(True)

    def _api_getme(self, args: dict[str, Any]) -> Reply:
        return _ok(self.bot_user)

    def _api_answercallbackquery(self, args: dict[str, Any]) -> Reply:
        if not args.get("callback_query_id"):
            return _fail(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return _ok(True)

    def _api_setwebhook(self, args: dict[str, Any]) -> Reply:
        with self.lock:
            self.webhook = {
                "url": args.get("url", ""),
                "secret_token": args.get("secret_token"),
                "allowed_updates": args.get("allowed_updates"),
            }
            if args.get("drop_pending_updates"):
                self._pending.clear()
        return _ok(True)

    def _api_deletewebhook(self, args: dict[str, Any]) -> Reply:
        with self.lock:
            self.webhook = {"url": ""}
            if args.get("drop_pending_updates"):
                self._pending.clear()
        return _ok(True)

    def _api_getwebhookinfo(self, args: dict[str, Any]) -> Reply:
        with self.lock:
            info = {
                "url": self.webhook["url"],
                "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
            }
        return _ok(info)

    def _api_getmycommands(self, args: dict[str, Any]) -> Reply:
        calls = self.args("setMyCommands")
        return _ok(calls[-1].get("commands", []) if calls else [])

    def _api_getfile(self, args: dict[str, Any]) -> Reply:
        with self.lock:
            stored = self.files.get(str(args.get("file_id")))
        if stored is None:
            return _fail(400, "Bad Request: invalid file_id")
        path, content = stored
        return _ok(
            {
                "file_id": args["file_id"],
                "file_unique_id": "AgAD" + str(args["file_id"])[-8:],
                "file_size": len(content),
                "file_path": path,
            }
        )

    def _api_getupdates(self, args: dict[str, Any]) -> Reply:
        with self.lock:
            if self.webhook["url"]:
                return _fail(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
        offset = int(args.get("offset") or 0)
        limit = int(args.get("limit") or 100)
        wait = min(float(args.get("timeout") or 0), self.long_poll_cap)

        def ready() -> bool:
            if offset:  # confirming: updates below the offset are gone for good
                self._pending[:] = [u for u in self._pending if u["update_id"] >= offset]
            return bool(self._pending)

        self.wait_until(ready, wait)
        with self.lock:
            return _ok(self._pending[:limit])

    def _download(self, rest: str) -> Reply:
        token, _, file_path = rest.partition("/")
        if self.token is not None and token != self.token:
            return _fail(401, "Unauthorized")
        with self.lock:
            content = next((c for p, c in self.files.values() if p == file_path), None)
        if content is None:
            return _fail(404, "Not Found")
        return Reply(200, content, "application/octet-stream")


def _ok(result: Any) -> Reply:
    return json_reply({"ok": True, "result": result})


def _fail(code: int, description: str) -> Reply:
    return json_reply({"ok": False, "error_code": code, "description": description}, code)


# Update builders ----------------------------------------------------------------------------------


def text_update(
    text: str,
    *,
    chat_id: int = REP_CHAT_ID,
    user: dict[str, Any] | None = None,
    message_id: int = 1,
    update_id: int | None = None,
) -> dict[str, Any]:
    """A `message` update as Telegram sends it when a rep types `text` (commands get an entity)."""
    sender = user or REP_USER
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": sender,
        "chat": {
            "id": chat_id,
            "type": "private" if chat_id > 0 else "supergroup",
            **({"first_name": sender["first_name"]} if chat_id > 0 else {"title": "Trademate Sales"}),
        },
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    update: dict[str, Any] = {"message": message}
    if update_id is not None:
        update["update_id"] = update_id
    return update


def callback_update(
    data: str, message: dict[str, Any], *, user: dict[str, Any] | None = None, update_id: int | None = None
) -> dict[str, Any]:
    """A `callback_query` update for a tap on an inline button of `message` (a Message dict the bot sent)."""
    update: dict[str, Any] = {
        "callback_query": {
            "id": str(4_000_000_000_000_000_000 + int(time.time() * 1000) % 1_000_000),
            "from": user or REP_USER,
            "message": message,
            "chat_instance": "-4567891234567891234",
            "data": data,
        }
    }
    if update_id is not None:
        update["update_id"] = update_id
    return update
