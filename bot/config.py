"""Configuration, read once from the environment (the contract in DESIGN.md §3).

Every other module receives a `Settings` instance; nothing reads `os.environ` itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Credentials the sandbox uses when none are configured: the emulators accept exactly these.
SANDBOX_WHATSAPP_PHONE_ID = "100000000000001"
SANDBOX_WHATSAPP_TOKEN = "sandbox-whatsapp-token"
SANDBOX_WHATSAPP_APP_SECRET = "sandbox-app-secret"
SANDBOX_WHATSAPP_VERIFY_TOKEN = "sandbox-verify-token"
SANDBOX_TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000000"
SANDBOX_TWILIO_AUTH_TOKEN = "sandbox-twilio-auth-token"
SANDBOX_TWILIO_FROM = "+15005550006"
SANDBOX_INBOX_TOKEN = "sandbox-inbox-token"


class ConfigError(ValueError):
    """An environment variable holds a value the bot cannot use."""


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one deployment."""

    var_dir: Path
    database_url: str
    redis_url: str | None  # None: start the embedded Redis under var_dir
    public_url: str
    port: int
    sandbox: bool
    whatsapp_phone_id: str
    whatsapp_token: str
    whatsapp_app_secret: str
    whatsapp_verify_token: str
    whatsapp_api_base: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_from: str
    twilio_api_base: str
    whatsapp_rate_per_s: int = 80
    sms_rate_per_s: int = 10
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)
    # Staff inbox API bearer token (INBOX_TOKEN); empty = the inbox API refuses everyone.
    inbox_token: str = ""
    # Per-user inbound flood limit: a token bucket of this many messages, refilled per second.
    inbound_burst: int = 30
    inbound_refill_per_s: float = 0.5
    # Telemedicine rooms (Jitsi-style, JWT auth): host, app id and HS256 secret.
    tele_host: str = "meet.sandbox.invalid"
    tele_app_id: str = "mymedic-sandbox"
    tele_app_secret: str = "sandbox-tele-secret-not-for-production"
    # Base of short links in messages (tele join links); DLT SMS variables hold 30 characters.
    short_link_base: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from an environment mapping (default: `os.environ`)."""
        env = os.environ if env is None else env
        var_dir = Path(env.get("MYMEDIC_VAR_DIR") or PROJECT_ROOT / "var").resolve()
        port = _int(env, "PORT", 8080)
        sandbox = _flag(env.get("SANDBOX"))
        public_url = (env.get("PUBLIC_URL") or f"http://127.0.0.1:{port}").rstrip("/")

        def cred(name: str, sandbox_default: str) -> str:
            value = env.get(name, "")
            return value or (sandbox_default if sandbox else "")

        database_url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'mymedic.db'}"
        if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
            # Accept the URL form every PostgreSQL tool prints; we need the async driver.
            database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
        return cls(
            var_dir=var_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            public_url=public_url,
            port=port,
            sandbox=sandbox,
            whatsapp_phone_id=cred("WHATSAPP_PHONE_ID", SANDBOX_WHATSAPP_PHONE_ID),
            whatsapp_token=cred("WHATSAPP_TOKEN", SANDBOX_WHATSAPP_TOKEN),
            whatsapp_app_secret=cred("WHATSAPP_APP_SECRET", SANDBOX_WHATSAPP_APP_SECRET),
            whatsapp_verify_token=cred("WHATSAPP_VERIFY_TOKEN", SANDBOX_WHATSAPP_VERIFY_TOKEN),
            whatsapp_api_base=(
                env.get("WHATSAPP_API_BASE")
                or (f"{public_url}/sandbox/graph" if sandbox else "https://graph.facebook.com")
            ).rstrip("/"),
            twilio_account_sid=cred("TWILIO_ACCOUNT_SID", SANDBOX_TWILIO_ACCOUNT_SID),
            twilio_auth_token=cred("TWILIO_AUTH_TOKEN", SANDBOX_TWILIO_AUTH_TOKEN),
            twilio_from=cred("TWILIO_FROM", SANDBOX_TWILIO_FROM),
            twilio_api_base=(
                env.get("TWILIO_API_BASE")
                or (f"{public_url}/sandbox/twilio" if sandbox else "https://api.twilio.com")
            ).rstrip("/"),
            whatsapp_rate_per_s=_int(env, "WHATSAPP_RATE_PER_S", 80),
            sms_rate_per_s=_int(env, "SMS_RATE_PER_S", 10),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            extra={k: v for k, v in env.items() if k.startswith("MYMEDIC_")},
            inbox_token=cred("INBOX_TOKEN", SANDBOX_INBOX_TOKEN),
            inbound_burst=_int(env, "INBOUND_BURST", 30),
            tele_host=env.get("TELE_HOST") or "meet.sandbox.invalid",
            tele_app_id=env.get("TELE_APP_ID") or "mymedic-sandbox",
            tele_app_secret=cred("TELE_APP_SECRET", "sandbox-tele-secret-not-for-production"),
            short_link_base=(env.get("SHORT_LINK_BASE") or "").rstrip("/"),
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests, the `run` command)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
