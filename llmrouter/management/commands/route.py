"""manage.py route --tokens 5000 --task coding --priority high

Routes one request through the real service (it reserves and logs like any
other caller, with interface "cli") and prints the decision and the table of
candidates. --dry-run scores without touching the database's money or logs.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.protocol import ProtocolError
from llmrouter import scoring, selectors, services, validation
from llmrouter.models import Provider, RouterWeights


class Command(BaseCommand):
    help = "Route one LLM request and print the decision with every candidate's factors."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tokens", type=int, required=True, help="token_count of the request")
        parser.add_argument("--task", default="", help="task_type (coding, reasoning, ...; empty: any)")
        parser.add_argument("--priority", default="medium", choices=scoring.PRIORITIES)
        parser.add_argument("--max-latency", type=float, default=0.0, help="ms; 0: no limit")
        parser.add_argument("--interface", default="cli")
        parser.add_argument("--dry-run", action="store_true", help="score only: no reservation, no log")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            kwargs = validation.parse_route_request(
                {
                    "token_count": opts["tokens"],
                    "task_type": opts["task"],
                    "priority": opts["priority"],
                    "max_latency": opts["max_latency"],
                    "interface": opts["interface"],
                }
            )
        except ProtocolError as exc:
            raise CommandError(exc.message) from None
        if opts["dry_run"]:
            self._dry_run(kwargs)
            return
        try:
            result = services.route_request(**kwargs)
        except ProtocolError as exc:
            self.stdout.write(self.style.ERROR(f"{exc.code}: {exc.message}"))
            self._table(exc.details.get("candidates", []), chosen=None)
            raise CommandError(str(exc.code)) from None
        self.stdout.write(self.style.SUCCESS(f"Provider:       {result.provider_name} ({result.provider_key})"))
        self.stdout.write(f"Reasoning:      {result.reasoning}")
        self.stdout.write(f"Estimated cost: ${result.estimated_cost:.6f}")
        self.stdout.write(f"Confidence:     {result.confidence:.4f}")
        self.stdout.write(f"Decision id:    {result.decision_id}")
        self._table(result.candidates, chosen=result.provider_key)

    def _dry_run(self, kwargs: dict[str, Any]) -> None:
        statuses = selectors.budgets_status()
        remaining = min((s["remaining"] for s in statuses), default=scoring.INF)
        hard = min((s["remaining"] for s in statuses if s["hard_cap"]), default=scoring.INF)
        row = RouterWeights.objects.filter(pk=1).first()
        decision = scoring.decide(
            [p.to_spec() for p in Provider.objects.order_by("display_order", "key")],
            scoring.Query(kwargs["token_count"], kwargs["task_type"], kwargs["priority"], kwargs["max_latency"]),
            remaining_budget=remaining,
            hard_cap_remaining=hard,
            weights=row.to_weights() if row else scoring.DEFAULT_WEIGHTS,
        )
        chosen = decision.chosen
        if chosen is None:
            self.stdout.write(self.style.ERROR(f"{decision.error_code} (dry run)"))
        else:
            self.stdout.write(self.style.SUCCESS(f"Provider:       {chosen.name} ({chosen.key}) (dry run)"))
            self.stdout.write(f"Reasoning:      {decision.reasoning}")
            self.stdout.write(f"Confidence:     {decision.confidence:.4f}")
        self._table(decision.candidates_as_dicts(), chosen=chosen.key if chosen else None)

    def _table(self, candidates: list[dict[str, Any]], *, chosen: str | None) -> None:
        header = (
            f"  {'provider':<18}{'quality':>8}{'q*prio':>8}{'cost f':>8}{'lat f':>8}{'score':>9}{'cost $':>11}  note"
        )
        self.stdout.write("")
        self.stdout.write(header)
        self.stdout.write("  " + "-" * (len(header) - 2))
        for c in candidates:
            mark = "*" if c["provider"] == chosen else " "
            if c.get("excluded"):
                self.stdout.write(
                    f"{mark} {c['provider']:<18}{'':>8}{'':>8}{'':>8}{'':>8}{'-':>9}"
                    f"{c['request_cost']:>11.6f}  excluded: {c['reason']}"
                )
                continue
            self.stdout.write(
                f"{mark} {c['provider']:<18}{c['quality']:>8.3f}{c['quality_factor']:>8.3f}"
                f"{c['cost_factor']:>8.3f}{c['latency_factor']:>8.3f}{c['score']:>9.4f}"
                f"{c['request_cost']:>11.6f}"
            )
