"""FakeSlack: the Slack Web API methods Trademate calls, served for the real slack_sdk clients.

Point a client at it with `AsyncWebClient(token, base_url=fake.url + "/api/")` (or `SLACK_API_URL`).
slack_sdk sends JSON for some methods, form bodies or query strings for others; the fake merges
them into one `args` dict per call, decoding JSON-in-a-string fields such as `blocks` and `view`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import mimetypes
import threading
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.base import FakeServer, Recorded, Reply, json_reply, text_reply

SLACK_TOKEN = "xoxb-1111111111-2222222222222-TrademateTestToken"
TEAM_ID = "T0TRADEM8"
BOT_USER_ID = "U0TRADEBOT"
BOT_ID = "B0TRADEBOT"
APP_ID = "A0TRADEAPP"

# Fields slack_sdk may send as JSON text inside a form or query value.
_JSON_FIELDS = {"blocks", "attachments", "view", "files", "metadata", "outputs", "user_auth_blocks"}


def normalize_args(request: Recorded) -> dict[str, Any]:
    """One call's arguments with JSON-string fields decoded, whatever encoding the SDK chose."""
    args = dict(request.args)
    for key in _JSON_FIELDS & args.keys():
        value = args[key]
        if isinstance(value, str) and value[:1] in "[{":
            try:
                args[key] = json.loads(value)
            except ValueError:
                pass
    return args


class FakeSlack(FakeServer):
    """Slack Web API at `/api/<method>` plus the external-upload URL at `/upload/v1/<file_id>`.

    `token`: when given, every API call must carry it (`Authorization: Bearer` or a `token` field),
    otherwise Slack's `not_authed`/`invalid_auth` answer. `users` and `channels` hold overrides
    merged into `users.info` and `conversations.info` answers.
    """

    name = "slack"

    def __init__(self, token: str | None = None, *, team_id: str = TEAM_ID, bot_user_id: str = BOT_USER_ID) -> None:
        super().__init__()
        self.token = token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.posted: dict[str, dict[str, Any]] = {}
        """Current state of every posted message by ts (chat.update applied)."""
        self.views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        """External uploads by file id: filename, length, content, title, channel_id, ..."""
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.app_token: str | None = None
        """App-level token (xapp-…) `apps.connections.open` accepts; it starts `socket_mode`."""
        self.socket_mode: FakeSocketMode | None = None

    # test helpers ---------------------------------------------------------------------------

    def args(self, api_method: str) -> list[dict[str, Any]]:
        """Normalized arguments of every call to `api_method` (e.g. "chat.postMessage"), in order."""
        return [normalize_args(r) for r in self.calls(f"/api/{api_method}")]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Arguments of every chat.postMessage, optionally only those to one channel."""
        return [a for a in self.args("chat.postMessage") if channel is None or a.get("channel") == channel]

    def updates(self, ts: str | None = None) -> list[dict[str, Any]]:
        """Arguments of every chat.update, optionally only those for one message ts."""
        return [a for a in self.args("chat.update") if ts is None or a.get("ts") == ts]

    def uploads(self) -> list[dict[str, Any]]:
        """Completed external uploads: id, filename, title, content (bytes), channel_id, initial_comment."""
        with self.lock:
            return [dict(f) for f in self.files.values() if f.get("completed")]

    def error_next(self, api_method: str, error: str = "channel_not_found", times: int = 1) -> None:
        """Make the next calls to `api_method` answer 200 `{"ok": false, "error": error}`, as Slack does."""
        self.fail_next(f"/api/{api_method}", 200, {"ok": False, "error": error}, times)

    def failure_body(self, status: int) -> Any:
        return {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}

    def failure_headers(self, status: int) -> dict[str, str]:
        return {"Retry-After": "1"} if status == 429 else {}

    # server side ----------------------------------------------------------------------------

    def next_ts(self) -> str:
        """Unique, increasing message timestamps shaped like Slack's: "1700000000.000100"."""
        micros = next(self._ts) * 100
        return f"{1_700_000_000 + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def handle(self, request: Recorded) -> Reply:
        if request.path.startswith("/upload/v1/"):
            return self._upload(request)
        if not request.path.startswith("/api/"):
            return text_reply("Not Found", 404)
        api_method = request.path.removeprefix("/api/").strip("/")
        args = normalize_args(request)
        auth_error = self._auth_error(request, args)
        if auth_error:
            return json_reply({"ok": False, "error": auth_error})
        handler = getattr(self, "_api_" + api_method.replace(".", "_"), None)
        result = handler(args) if handler else {"ok": True}
        return json_reply(result, headers={"X-Slack-Req-Id": self._id("req")})

    def _auth_error(self, request: Recorded, args: dict[str, Any]) -> str | None:
        auth = request.headers.get("authorization", "")
        presented = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else args.get("token")
        if request.path.rstrip("/").endswith("/apps.connections.open"):  # app-level token only
            if not presented:
                return "not_authed"
            return None if self.app_token and presented == self.app_token else "invalid_auth"
        if self.token is None:
            return None
        if not presented:
            return "not_authed"
        return None if presented == self.token else "invalid_auth"

    def _api_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if self.socket_mode is None:
                self.socket_mode = FakeSocketMode().start()
        return {"ok": True, "url": self.socket_mode.url}

    def stop(self) -> None:
        super().stop()
        if self.socket_mode is not None:
            self.socket_mode.stop()

    def _message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "text": args.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in args:
                message[key] = args[key]
        return message

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://trademate-test.slack.com/",
            "team": "Trademate Test",
            "user": "trademate",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return {"ok": False, "error": "no_text"}
        ts = self.next_ts()
        message = self._message(args, ts)
        with self.lock:
            self.posted[ts] = {**message, "channel": channel}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        with self.lock:
            current = self.posted.get(str(ts))
            if current is None or current["channel"] != channel:
                return {"ok": False, "error": "message_not_found"}
            for key in ("text", "blocks", "attachments", "metadata"):
                if key in args:
                    current[key] = args[key]
            current["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}
            message = {k: v for k, v in current.items() if k != "channel"}
        return {"ok": True, "channel": channel, "ts": ts, "text": message.get("text", ""), "message": message}

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self.next_ts()}

    def _view(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type", "modal"),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"1700000000.{view_id}",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }

    def _api_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        view = args.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        result = self._view(view, self._id("V"))
        with self.lock:
            self.views[result["id"]] = result
        return {"ok": True, "view": result}

    def _api_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        with self.lock:
            view_id = args.get("view_id") or next(
                (v["id"] for v in self.views.values() if v["external_id"] == args.get("external_id")), None
            )
            if not isinstance(view, dict) or view_id not in self.views:
                return {"ok": False, "error": "not_found"}
            result = self._view(view, view_id)
            self.views[view_id] = result
        return {"ok": True, "view": result}

    def _api_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = args.get("channel", "")
        channel = {
            "id": channel_id,
            "name": "export-sales",
            "is_channel": channel_id.startswith("C"),
            "is_group": False,
            "is_im": channel_id.startswith("D"),
            "is_private": channel_id.startswith("G"),
            "is_archived": False,
            "is_general": False,
            "is_member": True,
            "created": 1_690_000_000,
            "creator": "U0REP00001",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "Buyer replies awaiting approval", "creator": "", "last_set": 0},
        }
        with self.lock:
            channel.update(copy.deepcopy(self.channels.get(channel_id, {})))
        return {"ok": True, "channel": channel}

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args.get("user", "")
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": "asha",
            "real_name": "Asha Verma",
            "deleted": False,
            "tz": "Asia/Kolkata",
            "tz_label": "India Standard Time",
            "tz_offset": 19800,
            "is_bot": user_id == self.bot_user_id,
            "is_admin": False,
            "profile": {
                "real_name": "Asha Verma",
                "display_name": "asha",
                "email": "asha@trademate.test",
                "image_72": "https://avatars.slack-edge.com/asha_72.png",
            },
        }
        with self.lock:
            override = copy.deepcopy(self.users.get(user_id, {}))
        user.update({k: v for k, v in override.items() if k != "profile"})
        user["profile"].update(override.get("profile", {}))
        return {"ok": True, "user": user}

    def _api_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = args.get("filename"), args.get("length")
        if not filename or length is None:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = self._id("F")
        with self.lock:
            self.files[file_id] = {
                "id": file_id,
                "filename": filename,
                "length": int(length),
                "content": None,
            }
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _upload(self, request: Recorded) -> Reply:
        file_id = request.path.rsplit("/", 1)[-1]
        with self.lock:
            entry = self.files.get(file_id)
            if entry is None:
                return text_reply("Not Found", 404)
            entry["content"] = request.files["file"].content if "file" in request.files else request.body
        return text_reply(f"OK - {len(entry['content'])}")

    def _api_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = args.get("files")
        if not isinstance(wanted, list) or not wanted:
            return {"ok": False, "error": "invalid_arguments"}
        channel = args.get("channel_id") or args.get("channels")
        out = []
        with self.lock:
            for item in wanted:
                entry = self.files.get(item.get("id", ""))
                if entry is None or entry["content"] is None:
                    return {"ok": False, "error": "file_not_found"}
                entry.update(
                    completed=True,
                    title=item.get("title") or entry["filename"],
                    channel_id=channel,
                    initial_comment=args.get("initial_comment"),
                    thread_ts=args.get("thread_ts"),
                )
                out.append(self._file_object(entry))
        return {"ok": True, "files": out}

    def _file_object(self, entry: dict[str, Any]) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(entry["filename"])[0] or "application/octet-stream"
        file_id, name = entry["id"], entry["filename"]
        return {
            "id": file_id,
            "created": 1_700_000_000,
            "timestamp": 1_700_000_000,
            "name": name,
            "title": entry["title"],
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
            "user": self.bot_user_id,
            "user_team": self.team_id,
            "size": len(entry["content"]),
            "mode": "hosted",
            "is_external": False,
            "is_public": True,
            "url_private": f"https://files.slack.com/files-pri/{self.team_id}-{file_id}/{name}",
            "url_private_download": f"https://files.slack.com/files-pri/{self.team_id}-{file_id}/download/{name}",
            "permalink": f"https://trademate-test.slack.com/files/{self.bot_user_id}/{file_id}/{name}",
            "channels": [c for c in str(entry.get("channel_id") or "").split(",") if c],
            "shares": {},
        }


class FakeSocketMode:
    """Slack's Socket Mode WebSocket endpoint: says hello, pushes envelopes, records every ack.

    An aiohttp server on 127.0.0.1 port 0 with its own event loop in a thread. `FakeSlack` starts
    one when `apps.connections.open` is called with its `app_token` and answers with `url`.
    """

    def __init__(self, app_id: str = APP_ID) -> None:
        self.app_id = app_id
        self.received: list[dict[str, Any]] = []
        """Every text frame the app sent (acks: {"envelope_id": ..., "payload": ...})."""
        self.connections = 0
        self._sockets: list[Any] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._runner: Any = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-slack-socket", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=fake-ticket&app_id={self.app_id}"

    def start(self) -> FakeSocketMode:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._cond:
            self._sockets.append(ws)
            self.connections += 1
            self._cond.notify_all()
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": self.app_id}})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                with self._cond:
                    self.received.append(json.loads(msg.data))
                    self._cond.notify_all()
        with self._cond:
            self._sockets.remove(ws)
        return ws

    def wait_connected(self, timeout: float = 10) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: bool(self._sockets), timeout), "no Socket Mode connection"

    def push(self, envelope_type: str, payload: dict[str, Any], *, retry_attempt: int = 0,
             envelope_id: str | None = None) -> str:
        """Send one envelope to the connected app (e.g. "interactive" with a block_actions payload)."""
        self.wait_connected()
        envelope_id = envelope_id or f"env-{uuid.uuid4()}"
        envelope = {"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                    "accepts_response_payload": envelope_type != "events_api",
                    "retry_attempt": retry_attempt, "retry_reason": "timeout" if retry_attempt else ""}
        ws = self._sockets[-1]
        asyncio.run_coroutine_threadsafe(ws.send_json(envelope), self._loop).result(timeout=10)
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((m for m in self.received if m.get("envelope_id") == envelope_id), None)

        with self._cond:
            assert self._cond.wait_for(lambda: found() is not None, timeout), f"no ack for {envelope_id}"
            ack = found()
        assert ack is not None
        return ack

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            for ws in list(self._sockets):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
