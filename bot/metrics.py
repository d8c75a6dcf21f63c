"""Prometheus text for `GET /metrics`: webhook counters kept in memory, row counts read from SQLite."""

from __future__ import annotations

from collections import Counter

from bot.store import Store, counts


class Metrics:
    def __init__(self) -> None:
        self.webhooks: Counter[tuple[str, str]] = Counter()  # (route, outcome)

    def webhook(self, route: str, outcome: str) -> None:
        self.webhooks[(route, outcome)] += 1

    def render(self, store: Store) -> str:
        lines = [
            "# HELP trademate_webhooks_total Webhook requests by route and outcome.",
            "# TYPE trademate_webhooks_total counter",
        ]
        for (route, outcome), n in sorted(self.webhooks.items()):
            lines.append(f'trademate_webhooks_total{{route="{route}",outcome="{outcome}"}} {n}')
        names = {
            "messages": ("trademate_messages", "direction"),
            "drafts": ("trademate_drafts", "state"),
            "outbox": ("trademate_outbox", "state"),
        }
        for table, by_state in counts(store).items():
            metric, label = names[table]
            lines += [f"# HELP {metric} Rows in {table} by {label}.", f"# TYPE {metric} gauge"]
            for state, n in sorted(by_state.items()):
                lines.append(f'{metric}{{{label}="{state}"}} {n}')
        return "\n".join(lines) + "\n"
