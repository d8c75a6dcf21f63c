"""How fast `POST /twilio/messages` acknowledges, next to a bare Starlette endpoint in the same run.

The ack includes signature verification and the SQLite write (WAL); drafting and the Slack
card happen after the ack against the local fakes. Run: `python -m bench.webhook_ack [N]`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from bot.app import build_runtime
from bot.config import Settings
from bot.web import create_web_app
from tests.fakes import (
    BUSINESS_WHATSAPP,
    SLACK_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeSlack,
    FakeTwilio,
    inbound_form,
    sign_twilio,
)
from tests.serving import eventually, serve

PUBLIC = "https://trademate.test"


def _timed_posts(url: str, forms: list[dict[str, str]], signed: bool) -> list[float]:
    out = []
    with httpx.Client(timeout=30) as http:
        for form in forms:
            headers = {"X-Twilio-Signature": sign_twilio(PUBLIC + "/twilio/messages", form, TEST_AUTH_TOKEN)}
            start = time.perf_counter()
            resp = http.post(url, data=form, headers=headers if signed else {})
            out.append(time.perf_counter() - start)
            assert resp.status_code == 200, resp.text
    return out


def _summary(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs) * 1000, xs[int(len(xs) * 0.99) - 1] * 1000


def main(n: int = 500) -> None:
    forms = [inbound_form(f"Hello, price for VF-500 x {i}?", from_=f"whatsapp:+9198765{i:05d}",
                          to=BUSINESS_WHATSAPP) for i in range(n)]

    async def bare(request):  # type: ignore[no-untyped-def]
        await request.body()
        return Response("<Response></Response>", media_type="text/xml")

    with serve(Starlette(routes=[Route("/twilio/messages", bare, methods=["POST"])]), lifespan="off") as url:
        base = _timed_posts(url + "/twilio/messages", forms, signed=False)

    with FakeSlack(token=SLACK_TOKEN) as slack, FakeTwilio() as twilio, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, trademate_db=str(Path(tmp) / "b.db"),  # type: ignore[call-arg]
                            trademate_public_url=PUBLIC, twilio_account_sid=TEST_ACCOUNT_SID,
                            twilio_auth_token=TEST_AUTH_TOKEN, twilio_from=BUSINESS_WHATSAPP,
                            twilio_api_url=twilio.url, slack_bot_token=SLACK_TOKEN, slack_signing_secret="s",
                            slack_api_url=slack.url + "/api/", slack_channel="C1")
        runtime = build_runtime(settings)
        with serve(create_web_app(runtime)) as url:
            ours = _timed_posts(url + "/twilio/messages", forms, signed=True)
            start = time.perf_counter()
            eventually(lambda: len(slack.calls("chat.postMessage")) >= n, within=300, what="all cards")
            drain = time.perf_counter() - start
        runtime.close()

    b50, b99 = _summary(base)
    o50, o99 = _summary(ours)
    print(f"{n} inbound webhooks, sequential, one client")
    print(f"bare Starlette endpoint : p50 {b50:.2f} ms  p99 {b99:.2f} ms")
    print(f"/twilio/messages (ack)  : p50 {o50:.2f} ms  p99 {o99:.2f} ms  -> {o50 / b50:.1f}x / {o99 / b99:.1f}x bare")
    print(f"all {n} cards at fake Slack {drain:.2f} s after the last ack (template drafter)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
