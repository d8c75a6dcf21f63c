"""FakeLLM: an OpenAI-compatible chat completions server answering from a script.

`ChatOpenAI(model="gpt-4o-mini", base_url=fake.url + "/v1", api_key="test")` works against it,
including `.with_structured_output(Model)` in both of langchain-openai's shapes:

- `method="json_schema"` (the default for gpt-4o and later) sends `response_format={"type":
  "json_schema", ...}` and reads the answer from `message.content` as a JSON string;
- `method="function_calling"` (and the fallback for gpt-3.5/gpt-4 names) sends `tools` with a
  forced `tool_choice` and reads `message.tool_calls[0].function.arguments`.

The fake answers each in its own shape. With nothing scripted it builds a minimal object that
satisfies the requested JSON schema, so a test only scripts the answers it asserts on.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tests.fakes.base import FakeServer, Recorded, Reply, json_reply

DEFAULT_MODEL = "gpt-4o-mini"


@dataclass
class Answer:
    """One scripted answer: a JSON object, plain text, a named tool call or a refusal."""

    kind: Literal["json", "text", "tool", "refusal"]
    value: Any
    tool_name: str | None = None


class FakeLLM(FakeServer):
    """OpenAI chat completions at `POST /v1/chat/completions` (and `/chat/completions`), `GET /v1/models`.

    `api_key`: when given, requests must carry `Authorization: Bearer <api_key>`.
    `default`: called with the request JSON when the script is empty; returns the answer object
    (a dict, or a str for a plain-text answer).
    """

    name = "llm"

    def __init__(self, api_key: str | None = None, *, model: str = DEFAULT_MODEL) -> None:
        super().__init__()
        self.api_key = api_key
        self.model = model
        self.default: Callable[[dict[str, Any]], Any] | None = None
        self._script: deque[Answer] = deque()
        self._ids = itertools.count(1)

    # scripting ------------------------------------------------------------------------------

    def reply_json(self, obj: Any, times: int = 1) -> None:
        """Queue a structured answer: JSON content for response_format, tool arguments for tools."""
        self._queue(Answer("json", obj), times)

    def reply_text(self, text: str, times: int = 1) -> None:
        """Queue a plain assistant message."""
        self._queue(Answer("text", text), times)

    def reply_tool_call(self, name: str, arguments: dict[str, Any]) -> None:
        """Queue a call of tool `name`, even when the request did not force one."""
        self._queue(Answer("tool", arguments, tool_name=name), 1)

    def reply_refusal(self, text: str = "I'm sorry, I can't help with that.") -> None:
        """Queue a structured-output refusal (`message.refusal`), which langchain raises on."""
        self._queue(Answer("refusal", text), 1)

    def _queue(self, answer: Answer, times: int) -> None:
        with self.lock:
            self._script.extend([answer] * times)

    def fail_next(
        self,
        path_suffix: str = "/chat/completions",
        status: int = 500,
        body: Any = None,
        times: int = 1,
        *,
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next completion(s) with an OpenAI-shaped error; use `status=` by keyword.

        The openai client retries 408/409/429/5xx itself (`max_retries`, default 2): build
        ChatOpenAI with `max_retries=0` or queue `times=3` to see the failure surface.
        """
        super().fail_next(path_suffix, status, body, times, method=method, headers=headers)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Hold the next completion(s) for `seconds` so a client timeout fires."""
        self.slow_next("/chat/completions", seconds, times)

    def failure_body(self, status: int) -> Any:
        kinds = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded"}
        return {
            "error": {
                "message": f"Scripted failure {status} from the fake LLM.",
                "type": kinds.get(status, "server_error"),
                "param": None,
                "code": "rate_limit_exceeded" if status == 429 else None,
            }
        }

    # test helpers ---------------------------------------------------------------------------

    def completions(self) -> list[dict[str, Any]]:
        """Request JSON of every chat completion call, oldest first."""
        return [r.json for r in self.calls("/chat/completions") if isinstance(r.json, dict)]

    def prompts(self) -> list[list[dict[str, Any]]]:
        """The `messages` list of every completion request, to assert on what the model was told."""
        return [c.get("messages", []) for c in self.completions()]

    def last_prompt_text(self) -> str:
        """All message contents of the latest request joined: handy for `"catalog" in ...` checks."""
        messages = self.prompts()[-1] if self.completions() else []
        return "\n".join(_content_text(m.get("content")) for m in messages)

    # server side ----------------------------------------------------------------------------

    def handle(self, request: Recorded) -> Reply:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            error = _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            return json_reply(error, 401)
        if request.path.endswith("/models") and request.method == "GET":
            model = {
                "id": self.model,
                "object": "model",
                "created": 1_700_000_000,
                "owned_by": "trademate-fake",
            }
            return json_reply({"object": "list", "data": [model]})
        if not request.path.endswith("/chat/completions") or request.method != "POST":
            error = _error(f"Unknown request URL: {request.method} {request.path}.", "invalid_request_error", None)
            return json_reply(error, 404)
        body = request.json
        if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
            return json_reply(_error("'model' and 'messages' are required.", "invalid_request_error", None), 400)
        completion = self._complete(body, self._next_answer(body))
        if body.get("stream"):
            return Reply(200, _as_stream(completion, body), "text/event-stream; charset=utf-8")
        return json_reply(completion)

    def _next_answer(self, body: dict[str, Any]) -> Answer:
        with self.lock:
            if self._script:
                return self._script.popleft()
        if self.default is not None:
            value = self.default(body)
            return Answer("text", value) if isinstance(value, str) else Answer("json", value)
        schema = _requested_schema(body)
        if schema is None:
            return Answer("text", "OK")
        return Answer("json", example_from_schema(schema))

    def _complete(self, body: dict[str, Any], answer: Answer) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
        tool = answer.tool_name or _tool_to_call(body)
        finish = "stop"
        if answer.kind == "refusal":
            message["refusal"] = answer.value
        elif answer.kind == "text":
            message["content"] = answer.value
        elif answer.kind == "tool" or tool is not None:
            message["tool_calls"] = [
                {
                    "id": "call_" + secrets.token_hex(12),
                    "type": "function",
                    "function": {"name": tool, "arguments": json.dumps(answer.value)},
                }
            ]
            finish = "tool_calls"
        else:
            message["content"] = json.dumps(answer.value)
        prompt_tokens = max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion_tokens = max(1, len(json.dumps(message)) // 4)
        return {
            "id": f"chatcmpl-fake{next(self._ids):06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "system_fingerprint": "fp_trademate_fake",
            "service_tier": "default",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }


def _error(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _tool_to_call(body: dict[str, Any]) -> str | None:
    """The tool a real model would call: the forced one, else the first unless response_format wants JSON."""
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name") or tools[0]["function"]["name"])
    if choice == "required" or "response_format" not in body:
        return str(tools[0]["function"]["name"])
    return None


def _requested_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the caller expects back, from response_format or the tool it will call."""
    fmt = body.get("response_format") or {}
    tool = _tool_to_call(body)
    if tool is not None:
        for t in body.get("tools") or []:
            if t.get("function", {}).get("name") == tool:
                return dict(t["function"].get("parameters") or {"type": "object", "properties": {}})
    if fmt.get("type") == "json_schema":
        return dict(fmt.get("json_schema", {}).get("schema") or {})
    if fmt.get("type") == "json_object":
        return {"type": "object", "properties": {}}
    return None


def example_from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A minimal value that validates against `schema`, so unscripted structured calls still parse."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        defs = root.get("$defs") or root.get("definitions") or {}
        return example_from_schema(defs.get(name, {}), root)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return example_from_schema(options[0], root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_from_schema(sub, root) for name, sub in props.items()}
    if kind == "array":
        item = example_from_schema(schema.get("items", {}), root)
        return [item] * int(schema.get("minItems", 0))
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "x" * int(schema.get("minLength", 0)) or "example"


def _as_stream(completion: dict[str, Any], body: dict[str, Any]) -> bytes:
    """The same completion as server-sent chunks, for clients that ask for `stream: true`."""
    choice = completion["choices"][0]
    message = choice["message"]
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    delta: dict[str, Any] = {"role": "assistant", "content": message["content"] or ""}
    if message.get("refusal"):
        delta["refusal"] = message["refusal"]
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
    chunks = [
        {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]},
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]}],
        },
    ]
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()
