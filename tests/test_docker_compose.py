"""No Docker engine runs here: validate the compose file's structure and that its environment
matches what reco reads."""

import re
from pathlib import Path

import pytest
import yaml

from reco.db.target import parse_url
from reco.settings import Settings, project_root

ROOT = Path(project_root())
VAR = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip().removeprefix("# ")
        if re.match(r"^[A-Z_]+=", line):
            key, value = line.split("=", 1)
            pairs[key] = value
    return pairs


def _substitute(text: str, env: dict[str, str]) -> str:
    return VAR.sub(lambda m: env[m["name"]], text)


def test_db_service_is_postgres_16_with_healthcheck_and_named_volume(compose):
    db = compose["services"]["db"]
    assert db["image"] == "postgres:16"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "5432:5432" in db["ports"]


def test_every_variable_the_compose_file_uses_is_documented_in_env_example(compose, env_example):
    used = {m["name"] for m in VAR.finditer((ROOT / "docker-compose.yml").read_text())}
    assert used <= set(env_example), used - set(env_example)


def test_reco_service_builds_the_package_and_waits_for_a_healthy_db(compose):
    reco = compose["services"]["reco"]
    assert reco["build"] == "."
    assert reco["depends_on"]["db"]["condition"] == "service_healthy"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen" in dockerfile and "ENTRYPOINT" in dockerfile


def test_reco_service_database_url_is_what_the_resolver_accepts(compose, env_example):
    raw = _substitute(compose["services"]["reco"]["environment"]["DATABASE_URL"], env_example)
    url = parse_url(raw, "docker-compose.yml")
    db_env = compose["services"]["db"]["environment"]
    assert url.host == "db" and url.port == 5432
    assert url.username == _substitute(db_env["POSTGRES_USER"], env_example)
    assert url.password == _substitute(db_env["POSTGRES_PASSWORD"], env_example)
    assert url.database == _substitute(db_env["POSTGRES_DB"], env_example)


def test_app_reads_the_variables_env_example_documents(env_example):
    fields = {name.upper() for name in Settings.model_fields}
    assert {"DATABASE_URL", "RECO_HOME"} <= fields
    assert {"DATABASE_URL", "RECO_HOME"} <= set(env_example)
