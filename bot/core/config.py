"""Settings from the environment and an optional `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.nudges.timing import WorkingHours, parse_working_days, parse_working_hours, zone

SLACK_API_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and never its value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = SLACK_API_URL
    slack_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10
    database_url: str = "sqlite:///distill-bot.db"
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    host: str = "0.0.0.0"
    checklist_file: Path | None = None
    log_level: str = "INFO"
    # Nudges: the zone for projects whose starter's zone is unknown, how often each replica
    # looks for due nudges, and how long a replica may hold a nudge it is sending.
    default_timezone: str = "UTC"
    working_days: str = "mon-fri"
    working_hours: str = "09:00-18:00"
    nudge_poll_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    nudge_lease_seconds: Annotated[int, Field(ge=1, le=3600)] = 300
    # Nudges posted per minute at most, workspace-wide (split it between replicas).
    nudge_posts_per_minute: Annotated[int, Field(ge=1, le=600)] = 120
    # Jobs running or waiting in the background pool before new requests are told "busy".
    background_queue: Annotated[int, Field(ge=1, le=100_000)] = 200

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return zone(value).key

    @field_validator("working_days")
    @classmethod
    def _days_shape(cls, value: str) -> str:
        parse_working_days(value)
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours_shape(cls, value: str) -> str:
        parse_working_hours(value)
        return value

    @property
    def nudge_hours(self) -> WorkingHours:
        return parse_working_hours(self.working_hours, parse_working_days(self.working_days))

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None  # SLACK_APP_TOKEN= (empty) means HTTP mode
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_shape(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, like https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql")):
            raise ValueError("must be sqlite:///<file> or postgresql+psycopg://user@host/db")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level_shape(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @model_validator(mode="after")
    def _http_mode_needs_signing_secret(self) -> Settings:
        if self.slack_app_token is None and not self.slack_signing_secret:
            raise ValueError("SLACK_SIGNING_SECRET is required unless SLACK_APP_TOKEN selects Socket Mode")
        return self

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


def load_settings(env_file: Path | str | None = ".env") -> Settings:
    """Read the settings, turning validation errors into one line that names the variable."""
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as error:
        problems = []
        for problem in error.errors(include_input=False, include_url=False):
            name = "_".join(str(part) for part in problem["loc"]).upper()
            message = problem["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if name else message)
        raise ConfigError("; ".join(problems)) from None
