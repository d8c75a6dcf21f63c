"""A rep whose cards go to Telegram gets their morning digest there: the text with its buttons,
then the chart through sendPhoto, through the real app and the fake Bot API."""

from __future__ import annotations

from pathlib import Path

from bot.app import build_runtime
from bot.web import create_web_app
from tests.digest_seed import DIGEST_AT, FixedClock, seed
from tests.drivers import telegram_settings
from tests.fakes import REP_CHAT_ID, FakeTelegram, FakeTwilio
from tests.serving import serve

TEAM = f"""
reps:
  - name: Asha
    role: rep
    telegram_user: 1001
    telegram_chat: {REP_CHAT_ID}
    timezone: Asia/Kolkata
"""


def test_morning_digest_reaches_the_reps_telegram_chat_with_its_chart(
    tmp_path: Path, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    runtime = build_runtime(telegram_settings(tmp_path, fake_twilio, fake_telegram, trademate_team=str(team)),
                            clock=FixedClock(DIGEST_AT))
    seed(runtime.store)
    with serve(create_web_app(runtime)):
        runtime.scheduler.run_soon("digest:Asha")
        photo = fake_telegram.wait_for("/sendPhoto", timeout=30)
    texts = [m["text"] for m in fake_telegram.messages(REP_CHAT_ID)]
    digest = [t for t in texts if "Good morning, Asha!" in t]
    assert len(digest) == 1 and "Cards waiting for a decision" in digest[0]
    assert str(photo.args["chat_id"]) == str(REP_CHAT_ID)
    upload = next(iter(photo.files.values()))
    assert upload.content[:8] == b"\x89PNG\r\n\x1a\n"
    runtime.close()
