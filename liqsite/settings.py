"""liqmap settings: one file, every value from the environment (or `.env`), see `.env.example`."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The insecure default only serves a laptop in DEBUG; anything else must set its own key.
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key" if DEBUG else "")
if not SECRET_KEY:
    raise environ.ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (see .env.example)"
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
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
# Live data older than this is stale: the pages warn and the API's freshness says so.
FEED_STALE_SECONDS = env.int("FEED_STALE_SECONDS", default=600)
# Waits before retrying a failed warehouse read; after the last one the API answers 503.
WAREHOUSE_RETRY_DELAYS = [float(x) for x in env.list("WAREHOUSE_RETRY_DELAYS", default=[1, 3, 9])]
# Seconds a writer waits for another writer's lock before giving up (naming the holder).
WAREHOUSE_LOCK_TIMEOUT = env.float("WAREHOUSE_LOCK_TIMEOUT", default=600.0)
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
        "rest_framework.authentication.TokenAuthentication",
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
    # DuckDB takes one writer: the jobs that write the warehouse wait for its lock in turn.
    "workers": env.int("QCLUSTER_WORKERS", default=1),
    "timeout": 3600,
    "retry": 3700,
    "max_attempts": 1,
    "catch_up": False,
    "sync": env.bool("Q_SYNC", default=False),
}

# --- logging (structlog; JSON lines unless DEBUG) -------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()

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
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    # Django's defaults give "django" a console handler of its own (DEBUG only) and
    # "django.server" its own format: both go through the one structured handler instead,
    # or each line is printed twice
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "INFO"},
    },
}
