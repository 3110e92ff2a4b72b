"""Providers, budgets, the money ledger, route logs and the formula's weights.

Money is stored as integer nano-dollars (1e-9 USD) in the ledger so sums are
exact on every engine (SQLite would store a DecimalField as a float). Prices
and budget amounts are Decimals in dollars, as an operator types them.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from llmrouter import scoring, windows

NANOS_PER_DOLLAR = 1_000_000_000


def nanos_to_dollars(nanos: int) -> Decimal:
    return Decimal(nanos) / NANOS_PER_DOLLAR


def dollars_to_nanos(dollars: Decimal) -> int:
    return int(Decimal(dollars) * NANOS_PER_DOLLAR)


def exact_dollars(value: Decimal | float | int) -> str:
    """A cost as the exact dollars it stands for: $0.075, $0, -$0.002 (a settlement gives back part of its
    reservation); a float (from a JSON log) by its shortest repr, so 0.1 is $0.1, not its binary expansion."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return f"{'-' if exact < 0 else ''}${format(abs(exact).normalize(), 'f')}"


def validate_zone(value: str) -> None:
    if not windows.is_valid_zone(value):
        raise ValidationError(f"Unknown time zone {value!r} (use an IANA name such as Europe/Berlin).")


ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def validate_env_name(value: str) -> None:
    if value and not ENV_NAME_RE.match(value):
        raise ValidationError(f"{value!r} is not an environment variable name (letters, digits, _).")


# A pattern JSON Schema and Python's re read alike, so the REST schema says exactly what is accepted
# (Django's URLValidator has rules no schema can state, and takes ftp://, which nothing here can call).
# No \s: Python's and ECMA's differ (\x1c-\x1f, \x85, \ufeff), so the space class is spelt out.
_NOT_SPACE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
HTTP_URL_PATTERN = rf"^https?://[^{_NOT_SPACE}/?#]+([/?#][^{_NOT_SPACE}]*)?$"
_HTTP_URL_RE = re.compile(HTTP_URL_PATTERN)


def _check_http_url(value: str, message: str) -> None:
    # fullmatch, not RegexValidator's search: Python's $ also matches before a final newline.
    if value and not _HTTP_URL_RE.fullmatch(value):
        raise ValidationError(message)


# On the model fields, so the admin's forms refuse what the REST API refuses (they used to save any text).
def validate_health_url(value: str) -> None:
    _check_http_url(value, "Enter an http:// or https:// URL (or nothing: no check).")


def validate_api_base(value: str) -> None:
    _check_http_url(value, "Enter an http:// or https:// URL (or nothing: not called).")


# The gateway's model name for "the router picks" (/v1/ model "auto"); no provider may take it as its key,
# or it could never be pinned and GET /v1/models would list "auto" twice.
AUTO = "auto"


def validate_provider_key(value: str) -> None:
    if value == AUTO:
        raise ValidationError(f"{AUTO!r} is reserved: it is the gateway's model for letting the router choose.")


def validate_capabilities(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError('Capabilities must be a list of non-empty strings, e.g. ["coding", "reasoning"].')


class Provider(models.Model):
    class Health(models.TextChoices):
        HEALTHY = "healthy", "healthy"
        UNHEALTHY = "unhealthy", "unhealthy"

    class ApiFormat(models.TextChoices):
        OPENAI = "openai", "OpenAI chat completions (OpenAI, vLLM, Ollama, llama.cpp, Gemini)"
        ANTHROPIC = "anthropic", "Anthropic Messages"

    class Breaker(models.TextChoices):
        CLOSED = "closed", "closed"
        OPEN = "open", "open (cooling down)"
        HALF_OPEN = "half_open", "half-open (probing)"

    key = models.SlugField(max_length=64, unique=True, validators=[validate_provider_key])
    name = models.CharField(max_length=100)
    cost_per_1m = models.DecimalField(
        "cost per 1M tokens (USD)", max_digits=12, decimal_places=4, validators=[MinValueValidator(Decimal(0))]
    )
    context_window = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    latency_ms = models.PositiveIntegerField("typical latency (ms)")
    quality = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    capabilities = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_capabilities],
        help_text='A JSON list such as ["coding", "reasoning"].',
    )
    enabled = models.BooleanField(default=True)
    display_order = models.IntegerField(default=0, help_text="Ties in score go to the lower number.")
    health_url = models.URLField(
        blank=True, validators=[validate_health_url], help_text="Checked by the monitor; empty: no check."
    )
    health_state = models.CharField(max_length=10, choices=Health.choices, default=Health.HEALTHY)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # --- the gateway (/v1/): where and how to call the provider ---
    api_base = models.CharField(
        "API base URL",
        max_length=300,
        blank=True,
        validators=[validate_api_base],
        help_text="e.g. https://api.openai.com/v1 (openai) or https://api.anthropic.com "
        "(anthropic); empty: the gateway never calls this provider.",
    )
    api_format = models.CharField("API format", max_length=10, choices=ApiFormat.choices, default=ApiFormat.OPENAI)
    upstream_model = models.CharField(
        max_length=200, blank=True, help_text="The model name sent upstream; empty: the provider's key."
    )
    api_key_env = models.CharField(
        "API key variable",
        max_length=100,
        blank=True,
        validators=[validate_env_name],
        help_text="Name of the environment variable holding the key (the key itself is "
        "never stored); empty: no key sent (e.g. a local Ollama).",
    )
    input_cost_per_1m = models.DecimalField(
        "input $ per 1M tokens",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Empty: the single price above.",
    )
    output_cost_per_1m = models.DecimalField(
        "output $ per 1M tokens",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Empty: the single price above.",
    )
    cached_input_cost_per_1m = models.DecimalField(
        "cached input $ per 1M tokens",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="For prompt tokens the provider reports as cached; empty: the input price.",
    )
    # --- passive health, written by the gateway (shared by every web process through this row) ---
    breaker_state = models.CharField(max_length=10, choices=Breaker.choices, default=Breaker.CLOSED, editable=False)
    breaker_failures = models.PositiveIntegerField("consecutive gateway failures", default=0, editable=False)
    breaker_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="open: end of the cool-down; half-open: end of the probe."
    )
    observed_ttfb_ms = models.FloatField("observed time to first byte, p50 (ms)", null=True, blank=True, editable=False)
    use_observed_latency = models.BooleanField(
        default=False,
        help_text="Score with the observed time to first byte (p50) instead of the typed latency, "
        "once the gateway has observed some.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_order", "key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quality__gte=0) & Q(quality__lte=1), name="llmrouter_provider_quality_0_1"
            ),
            models.CheckConstraint(condition=Q(cost_per_1m__gte=0), name="llmrouter_provider_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    @property
    def healthy(self) -> bool:
        return self.health_state == self.Health.HEALTHY

    @property
    def api_key_set(self) -> bool:
        """Whether the gateway can authenticate: no key needed, or its variable is set (never the key itself)."""
        # Read at call time, not in settings.py: the variable's name is this row's data (orchestrator_common/env.py).
        return not self.api_key_env or bool(os.environ.get(self.api_key_env))

    @property
    def scoring_latency_ms(self) -> float:
        """The latency the formula uses: the observed one when the operator enabled it and there is one."""
        if self.use_observed_latency and self.observed_ttfb_ms is not None:
            return float(self.observed_ttfb_ms)
        return float(self.latency_ms)

    def to_spec(self) -> scoring.ProviderSpec:
        return scoring.ProviderSpec(
            key=self.key,
            name=self.name,
            cost_per_1m=float(self.cost_per_1m),
            context_window=self.context_window,
            latency_ms=self.scoring_latency_ms,
            quality=self.quality,
            capabilities=frozenset(c.lower() for c in self.capabilities or ()),
            enabled=self.enabled,
            healthy=self.healthy,
        )


class Budget(models.Model):
    class Period(models.TextChoices):
        DAILY = windows.DAILY, "daily"
        WEEKLY = windows.WEEKLY, "weekly (ISO, Monday)"
        MONTHLY = windows.MONTHLY, "monthly"

    name = models.CharField(max_length=100, unique=True)
    amount = models.DecimalField(
        "amount (USD)", max_digits=14, decimal_places=4, validators=[MinValueValidator(Decimal(0))]
    )
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.DAILY)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_zone],
        help_text="Windows are calendar windows in this IANA zone.",
    )
    hard_cap = models.BooleanField(default=True, help_text="Refuse reservations that would exceed the amount.")
    warning_threshold = models.FloatField(
        default=0.8,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of the amount past which the monitor warns (0..1).",
    )
    active = models.BooleanField(default=True)
    # The start of the last window a budget_warning event was sent for, so the
    # monitor warns once per window instead of every pass.
    warned_window_start = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="llmrouter_budget_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(warning_threshold__gte=0) & Q(warning_threshold__lte=1),
                name="llmrouter_budget_threshold_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}: ${self.amount} {self.period} ({self.timezone})"

    @property
    def amount_nanos(self) -> int:
        return dollars_to_nanos(self.amount)

    def window(self, now) -> tuple:
        return windows.window_bounds(self.period, self.timezone, now)


class RouteLog(models.Model):
    """One routing request and its outcome, with every candidate's factors."""

    OUTCOME_ROUTED = "routed"

    decision_id = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(db_index=True)
    interface = models.CharField(max_length=100, blank=True, db_index=True)
    task_type = models.CharField(max_length=50, blank=True)
    priority = models.CharField(max_length=10)
    token_count = models.PositiveIntegerField()
    max_latency = models.FloatField(default=0)
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="routes")
    provider_key = models.CharField(max_length=64, blank=True, db_index=True)
    # "routed" or the error code (BUDGET_EXCEEDED, NO_SUITABLE_PROVIDER).
    outcome = models.CharField(max_length=40, db_index=True)
    estimated_cost_nanos = models.BigIntegerField(default=0)
    # The price when routed, so a settlement uses it even after a price change.
    cost_per_1m = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    confidence = models.FloatField(default=0)
    reasoning = models.TextField(blank=True)
    candidates = models.JSONField(default=list)
    # Gateway calls: the first decision's id for every attempt of one client request, and this attempt's number.
    request_id = models.CharField(max_length=40, blank=True, db_index=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    # Split prices when routed (null: cost_per_1m for both), used by the settlement.
    input_cost_per_1m = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    output_cost_per_1m = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    cached_input_cost_per_1m = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Covers the anonymous share's sum (services.py): one range of the index per budget window.
            models.Index(
                fields=["interface", "outcome", "created_at", "estimated_cost_nanos"],
                name="llmrouter_route_iface_spend",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision_id} {self.outcome} {self.provider_key}"

    @property
    def estimated_cost(self) -> Decimal:
        return nanos_to_dollars(self.estimated_cost_nanos)


class RouteAttempt(models.Model):
    """What happened when the gateway called the provider of one decision (one row per decision it used)."""

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        TRUNCATED = "truncated", "truncated (the stream broke after its first byte)"
        CLIENT_CLOSED = "client_closed", "client closed the connection"
        CONNECT_ERROR = "connect_error", "connection error"
        TIMEOUT = "timeout", "timeout before the first byte"
        RATE_LIMITED = "rate_limited", "429 from the provider"
        UPSTREAM_ERROR = "upstream_error", "error status from the provider"
        BAD_RESPONSE = "bad_response", "unreadable answer"
        INTERRUPTED = "interrupted", "interrupted (the gateway stopped or the request was cancelled)"

    route = models.OneToOneField(RouteLog, on_delete=models.PROTECT, related_name="attempt_record")
    request_id = models.CharField(max_length=40, db_index=True)
    number = models.PositiveSmallIntegerField()
    provider_key = models.CharField(max_length=64)
    stream = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The provider's HTTP status.")
    error = models.TextField(blank=True)
    ttfb_ms = models.FloatField("time to first byte (ms)", null=True, blank=True)
    total_ms = models.FloatField("total time (ms)")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cost_nanos = models.BigIntegerField(default=0, help_text="What was settled for this attempt, nano-dollars.")
    usage_source = models.CharField(max_length=10)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.request_id} #{self.number} {self.provider_key} {self.outcome}"

    @property
    def cost(self) -> Decimal:
        return nanos_to_dollars(self.cost_nanos)


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ARG002 - append-only
        raise TypeError("The ledger is append-only: add an entry instead of updating one.")

    def delete(self):
        raise TypeError("The ledger is append-only: entries are never deleted.")


class LedgerEntry(models.Model):
    """Append-only money movements; spend is their sum over a window.

    A reservation holds a routed request's estimated cost; its settlement adds
    the difference between the real and the estimated cost (either sign).
    ``charged_at`` places an entry in a budget window: a settlement carries its
    reservation's time so the money lands in the window that reserved it.
    """

    class Kind(models.TextChoices):
        RESERVATION = "reservation", "reservation"
        SETTLEMENT = "settlement", "settlement"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount_nanos = models.BigIntegerField(help_text="Signed, in nano-dollars (1e-9 USD).")
    charged_at = models.DateTimeField()
    created_at = models.DateTimeField()
    route = models.ForeignKey(RouteLog, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger")
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provider_key = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Settlements: "reported" (the caller's or the provider's usage), "estimated" (a gateway call whose usage
    # never arrived: the reservation's estimate stands), "none" (no provider answered: nothing was spent).
    usage_source = models.CharField(max_length=10, blank=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            # Covers the per-window SUM every routing request runs.
            models.Index(fields=["charged_at", "amount_nanos"], name="llmrouter_ledger_window"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["route"], condition=Q(kind="reservation"), name="llmrouter_one_reservation_per_route"
            ),
            models.UniqueConstraint(
                fields=["route"], condition=Q(kind="settlement"), name="llmrouter_one_settlement_per_route"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.provider_key}"

    @property
    def amount(self) -> Decimal:
        return nanos_to_dollars(self.amount_nanos)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("The ledger is append-only: add an entry instead of changing one.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The ledger is append-only: entries are never deleted.")


class LedgerCheckpoint(models.Model):
    """An append-only partial sum: ledger entries with id <= up_to_id charged to one window total this.

    Spend is derived from the ledger, but summing a busy day's entries on every
    routing request would grow without bound. The router appends a checkpoint
    every few hundred entries (inside its locked transaction, so a rolled-back
    decision takes its checkpoint with it) and sums only the entries after the
    latest one. Every ledger write holds the budget lock, so entry ids are
    assigned in commit order and no entry can appear below a checkpoint later.
    """

    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    up_to_id = models.BigIntegerField()
    total_nanos = models.BigIntegerField()
    created_at = models.DateTimeField()

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["-window_start", "-up_to_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["window_start", "window_end", "up_to_id"], name="llmrouter_checkpoint_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.window_start:%Y-%m-%d %H:%M} .. #{self.up_to_id}: {nanos_to_dollars(self.total_nanos)}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Checkpoints are append-only.")
        super().save(*args, **kwargs)


class RouterWeights(models.Model):
    """The formula's constants, one row (pk=1), editable without a deploy."""

    high_quality_multiplier = models.FloatField(default=1.2)
    high_cost_multiplier = models.FloatField(default=0.8)
    low_quality_multiplier = models.FloatField(default=0.9)
    low_cost_multiplier = models.FloatField(default=1.3)
    over_budget_cost_factor = models.FloatField(default=0.1)
    cost_scale = models.FloatField(
        default=20.0, validators=[MinValueValidator(1e-9)], help_text="cost_factor = 1 - cost_per_1m / cost_scale"
    )
    latency_scale_ms = models.FloatField(
        default=5000.0,
        validators=[MinValueValidator(1e-9)],
        help_text="latency_factor = 1 - latency / latency_scale_ms",
    )
    over_latency_factor = models.FloatField(default=0.3)
    high_quality_threshold = models.FloatField(default=0.8)
    cost_effective_share = models.FloatField(default=0.1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "router weights"
        verbose_name_plural = "router weights"
        constraints = [
            models.CheckConstraint(
                condition=Q(cost_scale__gt=0) & Q(latency_scale_ms__gt=0), name="llmrouter_weights_scales_positive"
            ),
        ]

    def __str__(self) -> str:
        return "Router weights"

    def save(self, *args, **kwargs):
        self.pk = 1  # a singleton
        super().save(*args, **kwargs)

    def to_weights(self) -> scoring.Weights:
        return scoring.Weights(**{f: getattr(self, f) for f in scoring.Weights.__dataclass_fields__})
