"""Django settings. Everything configurable comes from the environment, here and only here.

With no environment set, wpublisher runs on one machine with no external service: SQLite, an in-memory
channel layer, a local-memory cache and a Celery broker kept in files under the data directory.
`DATABASE_URL` moves the database to PostgreSQL; `REDIS_URL` moves the broker, channel layer and cache to
Redis.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from kombu import Queue

from core.files import sqlite_database_private

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("WPUBLISHER_DATA_DIR", BASE_DIR / "var")).resolve()
CONFIG_DIR = Path(os.environ.get("WPUBLISHER_CONFIG_DIR", BASE_DIR / "config")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
# The console's config editor keeps this many backups of each file in CONFIG_DIR/backups (older ones go).
CONFIG_BACKUPS_KEEP = int(os.environ.get("CONFIG_BACKUPS_KEEP", "20"))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated on first start and kept in the data dir."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG")
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")
# The MCP endpoints check Host and Origin themselves (DNS rebinding protection); a port may be "*".
MCP_ALLOWED_HOSTS = _env_list("MCP_ALLOWED_HOSTS", "127.0.0.1:*,localhost:*,[::1]:*")
MCP_ALLOWED_ORIGINS = _env_list("MCP_ALLOWED_ORIGINS", "http://127.0.0.1:*,http://localhost:*,http://[::1]:*")
MCP_ISSUER_URL = os.environ.get("MCP_ISSUER_URL", f"http://{HOST}:{PORT}")
# Several web processes behind a round-robin balancer: Streamable HTTP without server-side sessions, so any
# process answers any request (session binding and idle expiry then do not apply; every request is still
# authenticated). One process: keep sessions.
MCP_STATELESS_HTTP = _env_bool("MCP_STATELESS_HTTP")
# Threads per web process on which MCP tools run (each keeps a database connection).
MCP_WORKER_THREADS = int(os.environ.get("MCP_WORKER_THREADS", "16"))
# Of those, how many submit_article/revise_article calls (which render Markdown) may hold at once: about the
# cores the process may use (bench/markdown_worst.py).
MCP_CONTENT_WRITE_THREADS = int(os.environ.get("MCP_CONTENT_WRITE_THREADS", "2"))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "ninja",
    "wpublisher",
    "core",
    "audit",
    "agents",
    "sites",
    "articles",
    "mcp_bridge",
    "console",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.middleware.SessionIdleTimeoutMiddleware",
    "console.middleware.ReviewerTimeZoneMiddleware",
    # Last: turns a sign-in refused for a lockout into the login page saying until when (console.logins).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "wpublisher.urls"
ASGI_APPLICATION = "wpublisher.asgi.application"

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

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    _database = dj_database_url.parse(DATABASE_URL, conn_health_checks=True)
    if _database["ENGINE"] == "django.db.backends.postgresql":
        _pool_max = int(os.environ.get("DATABASE_POOL_MAX", "0"))
        if _pool_max:
            # psycopg's pool replaces persistent connections (Django 5.1+).
            _database["OPTIONS"] = {"pool": {"min_size": 1, "max_size": _pool_max, "timeout": 10}}
        else:
            _database["CONN_MAX_AGE"] = int(os.environ.get("DATABASE_CONN_MAX_AGE", "60"))
else:
    # The database holds key hashes and sessions: 0600, as are its -wal and -shm files.
    sqlite_database_private(DATA_DIR / "wpublisher.sqlite3")
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "wpublisher.sqlite3"),
        "OPTIONS": {
            # The web process and the Celery worker both write: WAL lets readers run beside a writer,
            # IMMEDIATE takes the write lock at BEGIN so a transaction never fails half-way on upgrade,
            # and the timeout makes a writer wait for the other instead of failing with "locked".
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # Kept open between requests by each thread: opening one (with its PRAGMAs) costs more than a query.
        "CONN_MAX_AGE": int(os.environ.get("DATABASE_CONN_MAX_AGE", "600")),
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, channel layer, cache -------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = DATA_DIR / "broker"

CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
    _redis_cache = {"BACKEND": "core.cache.RedisCache", "LOCATION": REDIS_URL}
    CACHES = {"default": _redis_cache, "counters": _redis_cache}
else:
    # Our own filesystem transport (wpublisher/broker.py; it creates the folders): kombu's could deliver a
    # half-written message, and lost a late-acknowledged one when the worker holding it was killed. The
    # transport is named by import path, which kombu accepts only here, not as a URL scheme.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "wpublisher.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder": str(BROKER_DIR / "queue"),
        "unacked_folder": str(BROKER_DIR / "unacked"),
        "broken_folder": str(BROKER_DIR / "broken"),
        "tmp_folder": str(BROKER_DIR / "tmp"),
        "control_folder": str(BROKER_DIR / "control"),
        # The worker looks for new messages this often (kombu's default is 1 s, a second added to every
        # publish). A directory listing every 20 ms costs nothing noticeable and keeps the wait under it.
        "polling_interval": 0.02,
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {
        # Cached reads (agent config, site health, agent stats) are shared by the web process, the worker
        # and management commands, so that a write in one invalidates them for all: files in DATA_DIR.
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        },
        # Rate-limit and brute-force counters need atomic increments; only the web process counts.
        "counters": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }

CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes the database connections around every task unless this is set; they are
# kept for this many tasks, and checked around each as Django checks them around requests (celery.py).
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Django's LOGGING configures every process alike (and masks secrets); Celery must not replace it, nor
# turn stdout into a logger that the console handler then writes back into.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The seed's queues: publishing (WordPress posts), monitoring (health checks), maintenance (the rest).
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_ROUTES = {
    "articles.publish_article": {"queue": "publishing"},
    "articles.reconcile_post": {"queue": "publishing"},
    "sites.*": {"queue": "monitoring"},
}
# A worker consumes every queue listed here unless started with -Q (compose can dedicate workers).
CELERY_TASK_QUEUES = [Queue(name) for name in ("publishing", "monitoring", "maintenance")]
CELERY_BEAT_SCHEDULE = {
    "audit-retention": {"task": "audit.apply_retention", "schedule": 24 * 3600.0},
    # A publish whose task was lost is queued again within a minute (articles.services.PUBLISH_TASK_LOST_AFTER).
    "recover-stuck-publishes": {"task": "articles.recover_stuck_publishes", "schedule": 15.0},
    # Each site is checked at its own health_check_interval; this only looks for sites that are due.
    "site-health-checks": {"task": "sites.schedule_health_checks", "schedule": 10.0},
    "expire-mcp-sessions": {"task": "mcp_bridge.expire_sessions", "schedule": 3600.0},
    "expire-idempotency-keys": {"task": "articles.expire_idempotency_keys", "schedule": 3600.0},
    # Every Monday, shortly after the week ends (UTC).
    "weekly-agent-reports": {
        "task": "articles.write_agent_weekly_reports",
        "schedule": crontab(minute=15, hour=0, day_of_week="mon"),
    },
}

# --- Auth, sessions, security ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses sign-ins (console /login/ and /admin/login/) of a username from an address that failed too often.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# django-axes: LOGIN_FAILURE_LIMIT failed sign-ins of one username from one address lock that pair out for
# LOGIN_LOCKOUT_MINUTES (the page says until when; tries meanwhile do not extend it). Attempts are kept in the
# database (SQLite or PostgreSQL alike); staff see and clear lockouts in the admin ("Access attempts").
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "console.logins.login_locked_out_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # its start-up banner on every manage.py command says nothing an operator needs
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console:dashboard"
LOGOUT_REDIRECT_URL = "login"
# Reviewer sessions end after global_settings.session_timeout idle (SessionIdleTimeoutMiddleware); this is
# the fallback before the config is loaded.
SESSION_COOKIE_AGE = 1800
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HTTPS=1 when served behind TLS (production): secure cookies, HSTS, redirects to https.
HTTPS = _env_bool("HTTPS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and not _env_bool("TLS_TERMINATED_BY_PROXY_WITHOUT_REDIRECT")
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy: nothing but our own files; no eval, no inline script, no plugins, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "https:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# bcrypt cost for stored API keys: 12 costs about 200 ms here. Tests lower it to stay fast.
API_KEY_BCRYPT_ROUNDS = int(os.environ.get("API_KEY_BCRYPT_ROUNDS", "12"))

LANGUAGE_CODE = "en-us"
# ISO dates and a 24-hour clock in the admin and every `date` filter (wpublisher/formats/en/formats.py).
FORMAT_MODULE_PATH = ["wpublisher.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
# whitenoise serves the static files from the apps and static/ directly (no collectstatic step needed).
WHITENOISE_USE_FINDERS = True

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "wpublisher.logformat.JsonFormatter"},
    },
    # Query strings in any line are logged with their values replaced: ?api_key=[redacted].
    "filters": {"query_strings": {"()": "wpublisher.logformat.QueryStringRedactingFilter"}},
    "handlers": {
        # LOG_FORMAT=json: one JSON object a line, with agent, article and site fields.
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("LOG_FORMAT", "plain"),
            "filters": ["query_strings"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "celery": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
if not REDIS_URL:
    # The filesystem broker has no host; kombu warns about that on every connection.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}
