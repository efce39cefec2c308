"""liqmap settings: one file, every value from the environment (or `.env`), see `.env.example`."""

import os
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The insecure default only serves a laptop in DEBUG; anything else must set its own key, and
# not the example's: a known key lets anyone forge sessions, password-reset links and signed data.
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key" if DEBUG else "")
# Django's own bar for a key it does not warn about (security.W009): 50 characters, 5 distinct.
SECRET_KEY_MIN_LENGTH = 50
if not DEBUG and (
    SECRET_KEY in ("", "change-me")
    or len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith("django-insecure-")
):
    raise environ.ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off"
        " (not empty, not the example's `change-me`). Generate one: python -c"
        ' "import secrets; print(secrets.token_urlsafe(50))"'
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

# --- HTTPS ----------------------------------------------------------------------------------
# HTTPS=true (the default when DEBUG is off) means browsers reach liqmap over TLS only, here or
# at a proxy in front: plain HTTP is redirected, cookies are sent over TLS only and HSTS tells
# browsers never to try HTTP again. HTTPS=false is for plain HTTP on a laptop or loopback
# (DEBUG, the tests, the benchmarks' gunicorn). Each setting can still be set on its own.
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
# A year, this host and its subdomains, and consent to browsers' preload lists: what `check
# --deploy` asks for. Browsers remember it for the whole period: set SECURE_HSTS_SECONDS=300 for
# a first trial, SECURE_HSTS_INCLUDE_SUBDOMAINS=false if a subdomain still serves plain HTTP.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
# Behind a proxy that terminates TLS, the header it sets to say so, e.g. X-Forwarded-Proto
# (with the value https). Only when the proxy always sets it: a client could forge it otherwise.
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
# A monitor may probe the server itself over plain HTTP, past the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Origins allowed to POST forms when they differ from the Host (e.g. https://liqmap.example).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SESSION_COOKIE_HTTPONLY = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "heatmaps",
    "alerts",
    "live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # last, as django-axes asks: it turns a locked-out login into its 429 answer
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "liqsite.urls"
WSGI_APPLICATION = "liqsite.wsgi.application"

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
                "heatmaps.sample_data.context",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Keep connections between requests: every API request looks its token up.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the job cluster and the CLI all write here: WAL lets readers run beside
    # a writer, IMMEDIATE takes the write lock up front so two writers queue instead of
    # deadlocking, and the timeout makes them wait rather than fail with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# plotly.js is static/vendor/plotly.min.js, built by tools/plotly with only the traces the pages
# draw (1.2 MB, 0.4 MB gzipped, against 4.8 MB for the full bundle); no CDN, the app works offline
STATICFILES_DIRS = [BASE_DIR / "static"]
# In production (DEBUG off) `collectstatic` writes hashed, gzip- and brotli-compressed files to
# STATIC_ROOT and WhiteNoise serves them compressed and cached for good (plotly.js: 1.2 MB, 0.3 MB
# with brotli). With DEBUG on (the demo) and in the tests, files come straight from the app
# folders, so an edited script shows at once.
STATIC_COLLECTED = env.bool("STATIC_COLLECTED", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_COLLECTED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED

# --- login throttling (django-axes) --------------------------------------------------------
# Every password check, on /accounts/login/ and /admin/login/, goes through axes first: after
# AXES_FAILURE_LIMIT failures for one account (from anywhere) or from one address (on any
# account), that account or address is refused with 429 for AXES_COOLOFF_MINUTES, even with the
# right password. `manage.py axes_reset` (or axes_reset_username / axes_reset_ip) lifts it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy every request comes from the proxy's address: the header it sets to the
# client's (e.g. X-Real-IP), read only when set here (a client could forge it otherwise).
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="")
AXES_CLIENT_IP_CALLABLE = "liqsite.security.client_ip"

# --- API tokens (django-rest-knox) ---------------------------------------------------------
# Stored as SHA-512 digests (a database leak gives no working token), several per user, each
# with an expiry; `manage.py create_token <user> --days N` prints a new one once.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_DAYS),
    "AUTH_HEADER_PREFIX": "Token",  # `Authorization: Token <key>`, as bots already send it
    "AUTO_REFRESH": False,
}

# --- Content-Security-Policy (django-csp) ---------------------------------------------------
# Everything the pages load comes from this server (plotly.js is vendored, the API docs use the
# sidecar): no inline script, no other origin, no framing, forms post here only. data: images
# are the SVG icons Swagger UI and plotly's mode bar draw. Inline styles: only the exact ones
# the vendored plotly.js writes, by hash (tests/e2e fail on any other the browser refuses):
# - "" : the empty <style> it adds its rules to through the CSSOM (which CSP does not govern),
#   and the empty style="" it resets colour-bar rects with;
# - its probe of image-rendering support (the heatmap drawn as crisp pixels);
# - style="font-weight:bold", what it makes of the <b> in the pages' hover templates (a new tag
#   there, <i> say, needs its own hash: the browser tests will say so).
CSP_EMPTY_STYLE = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
CSP_PLOTLY_IMAGE_RENDERING = "'sha256-AR/cKIZjWPcPmBUPDA6oti9XBiTbJvz0Cro2J1VzzS8='"
CSP_PLOTLY_BOLD = "'sha256-wkY2X5hecQzbhnFCqvTpwrUJ1f4X8LH5WFjYUzv1wmU='"
_content_security_policy = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", CSP_EMPTY_STYLE],
        "style-src-attr": [
            "'unsafe-hashes'",
            CSP_EMPTY_STYLE,
            CSP_PLOTLY_IMAGE_RENDERING,
            CSP_PLOTLY_BOLD,
        ],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Enforced in production. With DEBUG it is only reported (the browser's console lists what it
# would refuse): Django's debug pages are made of inline scripts and styles.
if DEBUG:
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _content_security_policy
else:
    CONTENT_SECURITY_POLICY = _content_security_policy

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "heatmap"
LOGOUT_REDIRECT_URL = "login"

# --- liqmap ---------------------------------------------------------------------------------
DUCKDB_PATH = Path(
    env.str("DUCKDB_PATH", default=str(BASE_DIR / "data/processed/liquidations.duckdb"))
)
# Root of a local mirror of the archive: files live under data/futures/um/... below it.
BINANCE_DATA_PATH = Path(env.str("BINANCE_DATA_PATH", default=str(BASE_DIR / "data/binance")))
# The bundled sample: data ingested from here is badged "sample data" on every page
# (heatmaps/sample_data.py); SAMPLE_DATA=true/false overrides what the ingest history says.
SAMPLE_DATA_PATH = BASE_DIR / "data" / "sample"
SAMPLE_DATA = env.bool("SAMPLE_DATA", default=None)
BINANCE_BASE_URL = env.str("BINANCE_BASE_URL", default="https://data.binance.vision/")
# Binance's USDⓈ-M REST API, and a key for its signed endpoints (fetch_brackets only: the
# leverage brackets are USER_DATA). Read-only permissions are enough.
BINANCE_FAPI_URL = env.str("BINANCE_FAPI_URL", default="https://fapi.binance.com")
BINANCE_API_KEY = env.str("BINANCE_API_KEY", default="")
BINANCE_API_SECRET = env.str("BINANCE_API_SECRET", default="")
# the first active ensemble weights, as JSON by member; unset: the engine's DEFAULT_WEIGHTS
MODEL_WEIGHTS = env.json("MODEL_WEIGHTS", default=None)
# The web reads a read-only snapshot of the warehouse that writers publish after each job
# (DuckDB allows one writer or many readers, never both).
SERVING_PATH = Path(env.str("SERVING_PATH", default=str(DUCKDB_PATH.parent / "serving")))
# /healthz fails when the served snapshot is older than this (the hourly calculate publishes
# one; `follow` every minute) or a queued job has waited longer than this, in seconds.
HEALTHZ_SNAPSHOT_MAX_AGE = env.int("HEALTHZ_SNAPSHOT_MAX_AGE", default=2 * 3600)
HEALTHZ_QUEUE_MAX_AGE = env.int("HEALTHZ_QUEUE_MAX_AGE", default=3600)
# Live data older than this is stale: the pages warn and the API's freshness says so.
FEED_STALE_SECONDS = env.int("FEED_STALE_SECONDS", default=600)
# Waits before retrying a failed warehouse read; after the last one the API answers 503.
WAREHOUSE_RETRY_DELAYS = [float(x) for x in env.list("WAREHOUSE_RETRY_DELAYS", default=[1, 3, 9])]
# Seconds a writer waits for another writer's lock before giving up (naming the holder).
WAREHOUSE_LOCK_TIMEOUT = env.float("WAREHOUSE_LOCK_TIMEOUT", default=600.0)
# DuckDB threads per writer (0: as many as cores). Workers writing side by side must share the
# cores, not each take them all: by default a qcluster of N workers gives each cores ÷ N.
QCLUSTER_WORKERS = env.int("QCLUSTER_WORKERS", default=1)
DUCKDB_THREADS = env.int(
    "DUCKDB_THREADS",
    default=0 if QCLUSTER_WORKERS == 1 else max(1, (os.cpu_count() or 1) // QCLUSTER_WORKERS),
)
FETCH_RETRIES = env.int("FETCH_RETRIES", default=3)
# Waits between download attempts: 1x, 3x, 9x this many seconds.
FETCH_BACKOFF_SECONDS = env.float("FETCH_BACKOFF_SECONDS", default=1.0)
# Following the market (live/): Binance's USDⓈ-M REST API and WebSocket market streams.
BINANCE_REST_URL = env.str("BINANCE_REST_URL", default="https://fapi.binance.com")
BINANCE_WS_URL = env.str("BINANCE_WS_URL", default="wss://fstream.binance.com")
# Days of REST rows a feed with no rows at all starts with (open interest history: 30 at most).
FOLLOW_BACKFILL_DAYS = env.int("FOLLOW_BACKFILL_DAYS", default=3)

# --- alerts -------------------------------------------------------------------------------
# Where alert e-mails go out: smtp://user:password@host:587 (smtp+tls://, smtp+ssl://),
# consolemail:// (printed by the process that sends them), dummymail:// (dropped).
vars().update(
    env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="liqmap <liqmap@localhost>")
# Seconds a webhook receiver has to answer; the waits before each retry of a failed POST.
ALERT_WEBHOOK_TIMEOUT = env.float("ALERT_WEBHOOK_TIMEOUT", default=5.0)
ALERT_WEBHOOK_RETRY_DELAYS = [
    float(x) for x in env.list("ALERT_WEBHOOK_RETRY_DELAYS", default=[1, 4])
]

# --- API ---------------------------------------------------------------------------------
# A cache every server process shares: throttle counters and rendered heatmaps live here.
CACHES = {
    "default": env.cache_url("CACHE_URL", default=f"filecache://{BASE_DIR / 'data' / 'cache'}")
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_RATE", default="1200/min")},
    # JSON first; HTML (the browsable API) only for a person logged in (see negotiation.py)
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "heatmaps.api.negotiation.BrowsableForSessions",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "heatmaps.api.errors.handle",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "liqmap API",
    "DESCRIPTION": "Predicted liquidation levels, heatmaps and trading signals for bots.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # dark, like the app (Swagger UI's dark look is static/css/api-docs.css)
    "REDOC_UI_SETTINGS": {
        "theme": {
            "colors": {"primary": {"main": "#1fb5a0"}, "text": {"primary": "#e3e6ee"}},
            "typography": {"fontFamily": "system-ui, sans-serif", "code": {"color": "#fde725"}},
            "sidebar": {"backgroundColor": "#0d111c", "textColor": "#e3e6ee"},
            "rightPanel": {"backgroundColor": "#151b2b"},
            "schema": {"nestedBackground": "#151b2b", "typeNameColor": "#8089a0"},
        }
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "SideEnum": ["long", "short"],
        "ScoredSideEnum": ["both", "long", "short"],
    },
}

# --- jobs (django-q2) -----------------------------------------------------------------------
# The queue: Django's database (the ORM broker: nothing to install) unless REDIS_URL names a
# Redis server, which qcluster processes on several hosts can share.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "liqmap",
    **({"redis": REDIS_URL} if REDIS_URL else {"orm": "default"}),
    # each symbol's DuckDB file takes one writer: its jobs take turns, other symbols' run alongside
    "workers": QCLUSTER_WORKERS,
    "timeout": 3600,
    "retry": 3700,
    "max_attempts": 1,
    "catch_up": False,
    "sync": env.bool("Q_SYNC", default=False),
}

# --- logging (structlog; JSON lines unless DEBUG) -------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FILE = env.str("LOG_FILE", default="")

import structlog  # noqa: E402  (configured here so every entry point shares it)

_shared_processors = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
structlog.configure(
    processors=[*_shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.dev.ConsoleRenderer(colors=False)
                if DEBUG
                else structlog.processors.JSONRenderer(),
            ],
            "foreign_pre_chain": _shared_processors,
        },
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "structured"},
        # LOG_FILE: the same lines appended to a file too (reopened when logrotate moves it)
        **(
            {
                "file": {
                    "class": "logging.handlers.WatchedFileHandler",
                    "filename": LOG_FILE,
                    "formatter": "structured",
                }
            }
            if LOG_FILE
            else {}
        ),
    },
    "root": {"handlers": ["stderr", "file"] if LOG_FILE else ["stderr"], "level": LOG_LEVEL},
    # Django's defaults give "django" a console handler of its own (DEBUG only) and
    # "django.server" its own format: both go through the one structured handler instead,
    # or each line is printed twice
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # axes announces itself in every process (each command, each worker): once is enough
        "axes.apps": {"level": "WARNING"},
    },
}
