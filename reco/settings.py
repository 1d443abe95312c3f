"""Settings read from the environment and from ``.env`` (environment wins)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def project_root() -> Path:
    """The source checkout holding ``dbt_project/`` (reco runs from a clone), else the
    current folder."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    #: An external PostgreSQL server. When unset, the embedded server is used.
    database_url: str | None = Field(default=None)
    #: Where the embedded server keeps its data (and reco its state). Default: <project>/.reco
    reco_home: Path | None = Field(default=None)
    #: Database name used on the embedded server.
    reco_database: str = Field(default="reco")

    def home(self) -> Path:
        return (self.reco_home or project_root() / ".reco").expanduser().resolve()


def get_settings() -> Settings:
    return Settings()
