"""`/bgcheck <company | domain | email | phone | buyer>`: a background check on a buyer, as a report for the rep.

The surface acknowledges at once ("Working on /bgcheck…"); this handler runs the checks
(concurrently, each under its own timeout) and returns the report, posted in the channel.
"""

from __future__ import annotations

from bot.background import USAGE, parse_query
from bot.background_report import render
from bot.errors import TrademateError
from bot.models import CommandReply, CommandRequest
from bot.services import Services
from handlers.commands import command


@command("bgcheck", USAGE, "Background check on a buyer: DNS, WHOIS, website, email, phone, our history.")
async def bgcheck(svc: Services, request: CommandRequest) -> CommandReply:
    if svc.background is None:
        raise TrademateError("Background checks are not set up in this runtime.")
    query = parse_query(request.args)
    report = await svc.background.check(svc.store, query, svc.clock.now())
    return CommandReply(render(report))
