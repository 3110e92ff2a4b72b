"""Django settings for the orchestrator site.

Every value comes from the environment through the typed helpers in
``orchestrator_common.env`` and has a working single-machine default: SQLite
under ``var/``, Redis on localhost, sockets in a private directory. This is
the one module that reads the environment (bar a few secrets read at call
time, see ``env_secret``); the agents, the orchestrator and the web process
read these settings, and orchestrator_site/orchestrator/checks.py checks them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

from orchestrator_common.env import (
    DEFAULT_REDIS_KEY_PREFIX,
    DEFAULT_REDIS_URL,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
)
from orchestrator_common.paths import PROJECT_ROOT, VAR_DIR, socket_dir
from orchestrator_site.orchestrator.config import option_default

BASE_DIR = PROJECT_ROOT
VAR_DIR.mkdir(mode=0o700, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
# A per-checkout secret is generated on first use so a fresh machine works;
# production sets DJANGO_SECRET_KEY.
_secret_file = VAR_DIR / "secret_key"


def _load_secret() -> str:
    import secrets

    if not _secret_file.exists():
        _secret_file.write_text(secrets.token_urlsafe(50))
        _secret_file.chmod(0o600)
    return _secret_file.read_text().strip()


SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or _load_secret()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "servestatic",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "orchestrator_site.orchestrator",
    "agents",
    "agents.naming",
    "agents.struct",
    "agents.semantic",
    "agents.manager",
    "llmrouter",
    "orchestrator_site.web",
]

# Socket processes (orchestrator, agents) need the models, not the web stack:
# DJANGO_WEB_APPS=0 (set for them in supervisord.conf) leaves out daphne
# (which pulls in Twisted and cryptography), DRF, channels and the admin,
# about 28 MB less per process and a faster start.
WEB_ONLY_APPS = (
    "daphne",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "servestatic",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "orchestrator_site.web",
)
WEB_APPS = env_bool("DJANGO_WEB_APPS", True)
if not WEB_APPS:
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in WEB_ONLY_APPS]

MIDDLEWARE = [
    # Outermost: Django's own HTML error pages under /api/ become JSON error envelopes.
    "orchestrator_site.web.exceptions.api_error_envelope",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orchestrator_site.urls" if WEB_APPS else "orchestrator_site.lean_urls"
ASGI_APPLICATION = "orchestrator_site.asgi.application"
WSGI_APPLICATION = "orchestrator_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
# Under ASGI (the web process; asgi.py sets ORCHESTRATOR_ASGI) Django runs each request on a thread of its own
# that ends with the request: a persistent connection would outlive it, held open by nobody (Django's docs:
# persistent connections are not for async). There every request closes its connection, and
# orchestrator_site/concurrency.py bounds how many run at once. Long-lived processes keep DB_CONN_MAX_AGE.
_ASGI = env_bool("ORCHESTRATOR_ASGI", False)
_CONN_MAX_AGE = 0 if _ASGI else env_int("DB_CONN_MAX_AGE", 60)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=_CONN_MAX_AGE, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes share the file: WAL lets readers run beside the one
    # writer, IMMEDIATE transactions take the write lock at BEGIN so two
    # read-then-write transactions serialise instead of failing with
    # "database is locked" at upgrade time, and the timeout makes waiters
    # queue rather than error.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_float("SQLITE_TIMEOUT_S", 30.0),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# Hardening: umask 077, var/ 0700, a SQLite database file and its -wal/-shm 0600 (orchestrator_site/filemodes.py).
from orchestrator_site.filemodes import secure_runtime_files, sqlite_files  # noqa: E402

secure_runtime_files(
    VAR_DIR,
    sqlite_files(DATABASES["default"]["NAME"])
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    else (),
)

# Test databases are per test run (pid in the name) so that several pytest runs
# on one machine never share one; a file, not SQLite's in-memory default, so
# that threads in concurrency tests see one database with real locking.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files (the admin's and DRF's CSS, JS, icons): collected into STATIC_ROOT by
# ``manage.py collectstatic`` (dev.py setup/run/test do it), with content-hashed names and
# gzip/brotli copies made once at collect time, and served by ServeStatic in front of the
# whole ASGI app (orchestrator_site/asgi.py), so a static request never enters Django's
# request cycle. Hashed names are cached forever ("immutable"); see docs/web.md.
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", "") or VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
}
# Seconds a browser may keep a static file whose name carries no content hash.
STATIC_MAX_AGE_S = env_int("DJANGO_STATIC_MAX_AGE_S", 3600, minimum=0)

# --- Redis, channels, cache ---------------------------------------------------
REDIS_URL = env_str("REDIS_URL", DEFAULT_REDIS_URL)
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", DEFAULT_REDIS_KEY_PREFIX)
# Agents' Redis transport (agents/runtime/redis_transport.py) and the first-answer
# memory of idempotent requests (agents/runtime/idempotency.py); see docs/redis.md.
REDIS_TRANSPORT: dict[str, Any] = {
    "CLAIM_IDLE_MS": env_int("REDIS_CLAIM_IDLE_MS", 30_000, minimum=100),
    "BLOCK_MS": env_int("REDIS_BLOCK_MS", 2000, minimum=10),
    "MAX_DELIVERIES": env_int("REDIS_MAX_DELIVERIES", 5, minimum=1),
    "STREAM_MAXLEN": env_int("REDIS_STREAM_MAXLEN", 100_000, minimum=100),
    "REPLY_TTL_MS": env_int("REDIS_REPLY_TTL_MS", 60_000, minimum=1000),
    "LEGACY_PUBSUB": env_bool("REDIS_LEGACY_PUBSUB", True),
    "LIVE_TTL_MS": env_int("REDIS_LIVE_TTL_MS", 1200, minimum=200),
    # Slack after a caller's deadline before an agent refuses its entry: only for callers on other hosts.
    "EXPIRY_GRACE_MS": env_int("REDIS_EXPIRY_GRACE_MS", 0, minimum=0),
    # Put before the legacy pub/sub channel names (agent.<type>.request/response). Empty by default: the names
    # old clients use. Pub/sub ignores the key prefix and the database number, so each deployment sharing a
    # Redis server needs its own (docs/redis.md, "Several deployments on one Redis server").
    "LEGACY_CHANNEL_PREFIX": env_str("REDIS_LEGACY_CHANNEL_PREFIX", ""),
}
IDEMPOTENCY: dict[str, Any] = {
    "ENABLED": env_bool("IDEMPOTENCY_ENABLED", True),
    "WINDOW_S": env_float("IDEMPOTENCY_WINDOW_S", 3600.0, minimum=1),
    "PENDING_TTL_S": env_float("IDEMPOTENCY_PENDING_TTL_S", 30.0, minimum=0.1),
    # A claim whose owner process stopped refreshing its owner key this long is taken over by a retry.
    "OWNER_TTL_S": env_float("IDEMPOTENCY_OWNER_TTL_S", 1.0, minimum=0.1),
}

CHANNEL_LAYER_BACKEND = env_str("CHANNEL_LAYER", "memory")  # "memory" or "redis"
if CHANNEL_LAYER_BACKEND == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": REDIS_KEY_PREFIX + "asgi"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# DJANGO_CACHE=redis puts the cache (and with it the API rate-limit counters)
# in Redis so that several web processes share one limit per client.
if env_str("DJANGO_CACHE", "memory") == "redis":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX + "cache",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Orchestrator and agents ------------------------------------------------------
ORCHESTRATOR: dict[str, Any] = {
    "SOCKET_DIR": socket_dir(),
    "MAX_FRAME_BYTES": env_int("ORCHESTRATOR_MAX_FRAME_BYTES", option_default("max_frame_bytes"), minimum=1024),
    "REQUEST_TIMEOUT_MS": env_int("ORCHESTRATOR_REQUEST_TIMEOUT_MS", option_default("request_timeout_ms"), minimum=1),
    "MAX_INFLIGHT_PER_INSTANCE": env_int(
        "ORCHESTRATOR_MAX_INFLIGHT_PER_INSTANCE", option_default("max_inflight_per_instance"), minimum=1
    ),
    "MAX_QUEUE_PER_TYPE": env_int("ORCHESTRATOR_MAX_QUEUE_PER_TYPE", option_default("max_queue_per_type"), minimum=0),
    "DRAIN_TIMEOUT_S": env_float("ORCHESTRATOR_DRAIN_TIMEOUT_S", option_default("drain_timeout_s"), minimum=0),
    "MONITOR_INTERVAL_S": env_float("ORCHESTRATOR_MONITOR_INTERVAL_S", option_default("monitor_interval_s"), minimum=1),
    "HTTP_PORT": env_int("ORCHESTRATOR_HTTP_PORT", 8090, minimum=1),
    # A connection on orchestrator.sock that sends nothing at all this long after connecting is closed
    # (hardening: our client library speaks first; 0 keeps silent connections open).
    "CLIENT_SILENT_TIMEOUT_S": env_float(
        "ORCHESTRATOR_CLIENT_SILENT_TIMEOUT_S", option_default("client_silent_timeout_s"), minimum=0
    ),
    # The older token shared by every agent type without a token of its own (agents/auth.py).
    "AGENT_TOKEN": env_str("ORCHESTRATOR_AGENT_TOKEN", ""),
}
# One agent process (agents/runtime/runner.py) and the agents' own settings (agents/auth.py, agents/*/conf.py).
# The token an agent presents is read from AGENT_TOKEN_<TYPE> at start, not here: its name depends on the type.
_AGENT_HEARTBEAT_INTERVAL_S = env_float("AGENT_HEARTBEAT_INTERVAL_S", 15.0, minimum=0)
AGENTS: dict[str, Any] = {
    "MAX_INFLIGHT": env_int("AGENT_MAX_INFLIGHT", 1024, minimum=1),
    "RETRY_INTERVAL_S": env_float("AGENT_RETRY_INTERVAL_S", 5.0, minimum=0.1),
    "DRAIN_TIMEOUT_S": env_float("AGENT_DRAIN_TIMEOUT_S", 10.0, minimum=0),
    "HEARTBEAT_INTERVAL_S": _AGENT_HEARTBEAT_INTERVAL_S,  # 0: no heartbeats to the manager
    "TOKEN_DIR": Path(env_str("AGENT_TOKEN_DIR", "") or VAR_DIR / "agent_tokens").expanduser(),
    # struct: where folders are made when AgentType(struct).config has no workspace_root ("": var/workspace).
    "STRUCT_WORKSPACE_ROOT": env_str("STRUCT_WORKSPACE_ROOT", ""),
    # manager: an instance silent this long is stale (default 3 missed heartbeats).
    "MANAGER_STALE_AFTER_S": env_float("MANAGER_STALE_AFTER_S", 3 * _AGENT_HEARTBEAT_INTERVAL_S, minimum=0),
    # manager: supervisord's control socket ("": supervisor.sock in the socket directory).
    "SUPERVISOR_SOCKET": env_str("SUPERVISOR_SOCKET", ""),
}

# --- REST framework ---------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orchestrator_site.web.authentication.TokenOrBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Reads need a token (or a session); writes need staff.
    "DEFAULT_PERMISSION_CLASSES": ["orchestrator_site.web.permissions.ReadAuthenticatedWriteStaff"],
    # Request bodies are JSON (the browsable API edits them as raw JSON); other media types get 415.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Fixed-window limits per token and per anonymous client (see orchestrator_site/web/throttling.py).
    "DEFAULT_THROTTLE_RATES": {
        "request_user": env_str("API_RATE_REQUEST_USER", "12000/min"),
        "request_anon": env_str("API_RATE_REQUEST_ANON", "600/min"),
        "route_llm_user": env_str("API_RATE_ROUTE_LLM_USER", "6000/min"),
        "route_llm_anon": env_str("API_RATE_ROUTE_LLM_ANON", "600/min"),
    },
    # Error responses, anonymous access and JSON-only bodies as the views really behave (web/schema.py).
    "DEFAULT_SCHEMA_CLASS": "orchestrator_site.web.schema.ApiAutoSchema",
    # Every error (4xx and 5xx) in the wire protocol's error envelope, like the fast paths (web/exceptions.py).
    "EXCEPTION_HANDLER": "orchestrator_site.web.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "orchestrator_site.web.pagination.PageNumberOnly",
    "PAGE_SIZE": 50,
}

# --- Web interfaces (orchestrator_site/web) -----------------------------------------
WEB: dict[str, Any] = {
    # Anonymous clients may call POST /api/request and /ws/ (with the anonymous rate limit).
    "REQUEST_ANONYMOUS": env_bool("API_REQUEST_ANONYMOUS", False),
    # agent.action pairs only staff may call over HTTP/WebSocket (process control, event injection).
    "STAFF_ONLY_ACTIONS": env_list(
        "API_STAFF_ONLY_ACTIONS",
        ["manager.start_agent", "manager.stop_agent", "manager.restart_agent", "orchestrator.publish"],
    ),
    # How long a resolved API token is trusted before it is looked up again (revocation delay).
    "TOKEN_CACHE_TTL_S": env_float("API_TOKEN_CACHE_TTL_S", 10.0, minimum=0),
    "WS_AUTH_TIMEOUT_S": env_float("WS_AUTH_TIMEOUT_S", 10.0, minimum=0.1),
    "WS_MAX_INFLIGHT": env_int("WS_MAX_INFLIGHT", 256, minimum=1),
    # Seconds without events after which the event relay checks its orchestrator connection.
    "EVENT_LIVENESS_S": env_float("WEB_EVENT_LIVENESS_S", 5.0, minimum=0.1),
    # Connections from this web process to the orchestrator (requests go to the least busy one; a
    # broken connection fails only the requests in flight on it).
    "ORCHESTRATOR_CONNECTIONS": env_int("WEB_ORCHESTRATOR_CONNECTIONS", 4, minimum=1),
    # Django requests (everything but the fast paths and /ws/) run at once per web process; each holds a
    # database connection while it runs (orchestrator_site/concurrency.py). The rest wait their turn.
    "DJANGO_CONCURRENCY": env_int("WEB_DJANGO_CONCURRENCY", 8, minimum=1),
    # How often the web process renews the state /health answers from (orchestrator_site/health.py).
    "HEALTH_REFRESH_S": env_float("WEB_HEALTH_REFRESH_S", 1.0, minimum=0.05),
    # /metrics without a token (for scrapers on a trusted network).
    "METRICS_PUBLIC": env_bool("METRICS_PUBLIC", False),
}

# --- LLM router (read through llmrouter/conf.py; these are the only defaults) ----------
LLMROUTER = {
    # Whether anonymous callers may POST /api/route-llm (rate limits are the web layer's job).
    "ROUTE_ALLOW_ANONYMOUS": env_bool("LLMROUTER_ROUTE_ALLOW_ANONYMOUS", True),
    # Serve POST /api/route-llm through the async fast path in front of Django.
    "FAST_PATH": env_bool("LLMROUTER_FAST_PATH", True),
    # Threads running route_request for the fast path; 0 picks 1. Every routing transaction locks the same
    # budget rows, so a second thread cannot route in parallel: it only splits the waiting requests into
    # smaller batches (on PostgreSQL 4 threads served 690-770 req/s against 950-1,150 for one,
    # bench/router.md). More can help only a deployment whose threads wait on something other than that lock.
    "ROUTE_WORKERS": env_int("LLMROUTER_ROUTE_WORKERS", 0, minimum=0),
    # The monitor: health-check timeout and failures before a provider is unhealthy.
    "HEALTH_CHECK_TIMEOUT_S": env_float("LLMROUTER_HEALTH_CHECK_TIMEOUT_S", 2.0, minimum=0.1),
    "UNHEALTHY_AFTER_FAILURES": env_int("LLMROUTER_UNHEALTHY_AFTER_FAILURES", 3, minimum=1),
    # /health asks the orchestrator for its agent count with this timeout.
    "HEALTH_ORCHESTRATOR_TIMEOUT_S": env_float("LLMROUTER_HEALTH_ORCHESTRATOR_TIMEOUT_S", 0.5, minimum=0.05),
    # The gateway's circuit breaker: consecutive failures that open it, the cool-down before a probe, and how
    # long a probe's claim lasts should its process never report back.
    "BREAKER_FAILURES": env_int("LLMROUTER_BREAKER_FAILURES", 3, minimum=1),
    "BREAKER_COOLDOWN_S": env_float("LLMROUTER_BREAKER_COOLDOWN_S", 30.0, minimum=0),
    "BREAKER_PROBE_TIMEOUT_S": env_float("LLMROUTER_BREAKER_PROBE_TIMEOUT_S", 120.0, minimum=1),
    # The share (0..1) of each active budget's window that anonymous callers may reserve between them: a
    # hard cap of its own, so anonymous traffic can never take the money callers with tokens need.
    "ANONYMOUS_BUDGET_SHARE": env_float("LLMROUTER_ANONYMOUS_BUDGET_SHARE", 0.05, minimum=0.0),
}

# The LLM gateway (/v1/, read through llmgateway/conf.py; docs/gateway.md). These are the only defaults.
GATEWAY = {
    # Attempts per request (the first plus failovers), only ever before the first byte reaches the client.
    "MAX_ATTEMPTS": env_int("GATEWAY_MAX_ATTEMPTS", 3, minimum=1),
    # Completion size reserved (and sent upstream as max_tokens) when the request gives none.
    "DEFAULT_MAX_TOKENS": env_int("GATEWAY_DEFAULT_MAX_TOKENS", 1024, minimum=1),
    "MAX_BODY_BYTES": env_int("GATEWAY_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1024),
    "CONNECT_TIMEOUT_S": env_float("GATEWAY_CONNECT_TIMEOUT_S", 5.0, minimum=0.01),
    # Until the first byte of the answer (headers and first chunk): past it, the next provider is tried.
    "FIRST_BYTE_TIMEOUT_S": env_float("GATEWAY_FIRST_BYTE_TIMEOUT_S", 30.0, minimum=0.01),
    # Longest silence between two chunks of a stream, and the longest whole call.
    "READ_TIMEOUT_S": env_float("GATEWAY_READ_TIMEOUT_S", 60.0, minimum=0.01),
    "TOTAL_TIMEOUT_S": env_float("GATEWAY_TOTAL_TIMEOUT_S", 600.0, minimum=0.01),
    "MAX_CONNECTIONS": env_int("GATEWAY_MAX_CONNECTIONS", 2000, minimum=1),
    # How long an idle upstream connection is kept for the next call.
    "KEEPALIVE_S": env_float("GATEWAY_KEEPALIVE_S", 15.0, minimum=0),
    # How long a finished call's settlement waits for the next decision to share its transaction (ledger.py).
    "SETTLE_LINGER_S": env_float("GATEWAY_SETTLE_LINGER_S", 0.005, minimum=0),
    # Observed time to first byte: p50 over this many recent calls per provider, published at most this often.
    "TTFB_WINDOW": env_int("GATEWAY_TTFB_WINDOW", 200, minimum=1),
    "TTFB_PUBLISH_S": env_float("GATEWAY_TTFB_PUBLISH_S", 5.0, minimum=0),
    # Gateway calls a dead process left unsettled (llmgateway/orphan_sweep.py): looked for this often (0: never),
    # once older than TOTAL_TIMEOUT_S plus the grace, and at a start as far back as the lookback.
    "ORPHAN_SWEEP_S": env_float("GATEWAY_ORPHAN_SWEEP_S", 60.0, minimum=0),
    "ORPHAN_GRACE_S": env_float("GATEWAY_ORPHAN_GRACE_S", 60.0, minimum=0),
    "ORPHAN_LOOKBACK_S": env_float("GATEWAY_ORPHAN_LOOKBACK_S", 86400.0, minimum=0),
    # Provider keys (NAME=value lines) the web process reads at each start (llmgateway/keys_file.py), so that
    # `supervisorctl restart web` applies a new or rotated key. Must be private (mode 600).
    "KEYS_FILE": Path(env_str("GATEWAY_KEYS_FILE", "") or VAR_DIR / "provider-keys.env").expanduser(),
}

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Orchestrator API",
    "DESCRIPTION": "Agents over HTTP, the LLM router, providers, budgets and logs.",
    "VERSION": "1.0.0",
    # The envelopes' "status" enums: one name each instead of a generated hash.
    "ENUM_NAME_OVERRIDES": {"ErrorStatusEnum": ["error"], "SuccessStatusEnum": ["success"]},
    # Request bodies get their own components (read-only fields left out, required strings non-empty).
    "COMPONENT_SPLIT_REQUEST": True,
    # The enums list their values already; "* `high` - high" lines only repeat them.
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # /api/schema/ is the schema; it does not describe itself.
    "SERVE_INCLUDE_SCHEMA": False,
    # The /v1/ gateway is served by ASGI handlers, not views: llmgateway/openapi.py describes it.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "llmgateway.openapi.add_gateway_paths"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
