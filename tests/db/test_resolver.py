import pytest

from reco.db.resolver import resolve
from reco.db.target import mask_url, parse_url
from reco.errors import RecoError

URL_ENV = "postgresql://env_user@envhost:5433/envdb"
URL_DOTENV = "postgresql://dotenv_user@dotenvhost:5434/dotenvdb"
URL_CLI = "postgresql://cli_user@clihost:5435/clidb"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RECO_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_option_beats_environment_and_dotenv(clean_env, monkeypatch):
    (clean_env / ".env").write_text(f"DATABASE_URL={URL_DOTENV}\n")
    monkeypatch.setenv("DATABASE_URL", URL_ENV)
    db = resolve(URL_CLI, start=False)
    assert (db.origin, db.host, db.url.database) == ("--database-url", "clihost", "clidb")


def test_environment_beats_dotenv(clean_env, monkeypatch):
    (clean_env / ".env").write_text(f"DATABASE_URL={URL_DOTENV}\n")
    monkeypatch.setenv("DATABASE_URL", URL_ENV)
    db = resolve(start=False)
    assert (db.origin, db.host, db.port) == ("DATABASE_URL", "envhost", 5433)


def test_dotenv_is_used_when_environment_is_unset(clean_env):
    (clean_env / ".env").write_text(f"DATABASE_URL={URL_DOTENV}\n")
    db = resolve(start=False)
    assert (db.origin, db.host, db.url.username) == (".env", "dotenvhost", "dotenv_user")


def test_embedded_server_is_the_default_with_data_under_reco_home(clean_env):
    db = resolve(start=False)
    assert db.origin == "embedded"
    assert db.embedded is not None
    assert db.embedded.pgdata == (clean_env / "home" / "pgdata").resolve()


@pytest.mark.parametrize(
    "raw",
    ["postgres://u@h/d", "postgresql+psycopg2://u@h/d", "postgresql+psycopg://u@h:6543/d"],
)
def test_postgres_url_spellings_normalise_to_psycopg3(raw):
    assert parse_url(raw, "test").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not a url", "malformed database URL"),
        ("mysql://u:pw@h/d", "unsupported database URL scheme 'mysql'"),
        ("postgresql://u:pw@h:99999/d", "malformed port"),
        ("postgresql://u:pw@h", "names no database"),
    ],
)
def test_malformed_urls_raise_one_clear_error_without_the_password(raw, message):
    with pytest.raises(RecoError) as info:
        parse_url(raw, "DATABASE_URL")
    assert message in str(info.value)
    assert "pw" not in str(info.value).replace("password", "")


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("postgresql://bob:s3cret@db:5432/x", "postgresql://bob:***@db:5432/x"),
        ("postgresql+psycopg://bob:p%40ss@db/x", "postgresql+psycopg://bob:***@db/x"),
        ("postgresql://db/x?user=bob&password=s3cret", "postgresql://db/x?user=bob&password=***"),
        ("postgresql://bob@db/x", "postgresql://bob@db/x"),
        ("error at postgresql://a:b@h/d and more", "error at postgresql://a:***@h/d and more"),
    ],
)
def test_mask_url_hides_every_password_form(raw, masked):
    assert mask_url(raw) == masked


def test_resolved_database_prints_masked_and_keeps_password_for_drivers():
    db = resolve("postgresql://bob:s3cret@db:5432/x", start=False)
    assert "s3cret" not in db.masked
    assert "s3cret" in db.conninfo()
