"""The project's conventions, checked on the manifest of ``dbt parse`` (no database): the checks of
dbt Labs' dbt-project-evaluator (and dbt-score) that fit this project, written as plain
assertions because the package cannot be installed here. Every check is generic: it applies to
every source, model, seed and macro, including those added later.

Exception, written once: the marts carry the names the data-model spec gives them (customer,
order_line, client_master_profile …). They are the spec's public contract, so the evaluator's
naming rule (fct_/dim_ prefixes) does not apply to ``models/marts``; staging and intermediate
models keep their prefixes (``stg_<source>__``, ``int_``)."""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from reco.db.models import Base
from reco.dbt.runner import dbt_executable, dbt_project_dir
from reco.settings import project_root

PACKAGE = "reco"

#: Sources exempted from these checks: none, and nothing may be added here (every source,
#: ``raw`` and ``reco`` alike, declares its columns, keys and freshness).
NOT_YET_CHECKED_SOURCES: set[str] = set()

#: Tests that prove a key: unique values (with not_null on the same column), a unique
#: combination of columns, or a primary-key constraint the database enforces.
UNIQUENESS_TESTS = {"unique", "unique_combination", "constraint_exists"}


#: No database is involved: the first CI pass checks the project; the pass against an external
#: server (RECO_TEST_DATABASE_URL) would repeat the same parse for the same answer.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("RECO_TEST_DATABASE_URL")), reason="database-independent; checked in the first pass"
)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> Path:
    """The target folder of one ``dbt parse`` (manifest.json and semantic_manifest.json)."""
    target = tmp_path_factory.mktemp("dbt_parse")
    env = {**os.environ, "DBT_PROFILES_DIR": str(project_root())}
    subprocess.run(
        [dbt_executable(), "parse", "--target-path", str(target), "--no-partial-parse", "--quiet"],
        cwd=dbt_project_dir(),
        env=env,
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture(scope="module")
def manifest(parsed) -> dict:
    return json.loads((parsed / "manifest.json").read_text(encoding="utf-8"))


def _own(nodes: dict, resource_type: str) -> list[dict]:
    return [n for n in nodes.values() if n["resource_type"] == resource_type and n["package_name"] == PACKAGE]


def _models(manifest: dict) -> list[dict]:
    return _own(manifest["nodes"], "model")


def _sources(manifest: dict) -> list[dict]:
    return [s for s in _own(manifest["sources"], "source") if s["source_name"] not in NOT_YET_CHECKED_SOURCES]


def _keys_tested(manifest: dict) -> dict[str, list[set[str]]]:
    """Node id → the column sets a test proves unique (unique needs not_null beside it)."""
    by_node: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    keys: dict[str, list[set[str]]] = defaultdict(list)
    for test in _own(manifest["nodes"], "test"):
        meta = test.get("test_metadata") or {}
        # A test of a source has no attached node: its one dependency is the source.
        attached = test.get("attached_node") or (test["depends_on"]["nodes"] or [None])[0]
        if not meta or not attached:
            continue
        kwargs = meta.get("kwargs", {})
        name = meta["name"]
        if name in ("unique", "not_null"):
            by_node[attached][name].add(kwargs["column_name"])
        elif name == "unique_combination":
            keys[attached].append(set(kwargs["combination_of_columns"]))
        elif name == "constraint_exists" and kwargs.get("kind", "primary_key") == "primary_key":
            keys[attached].append(set(kwargs.get("columns") or [kwargs["column_name"]]))
    for node, tests in by_node.items():
        keys[node].extend({c} for c in tests["unique"] & tests["not_null"])
    return keys


def _contract_primary_key(model: dict) -> set[str] | None:
    if not model["config"]["contract"]["enforced"]:
        return None
    for c in model.get("constraints", []):
        if c["type"] == "primary_key":
            return set(c["columns"])
    for name, col in model["columns"].items():
        if any(c["type"] == "primary_key" for c in col.get("constraints", [])):
            return {name}
    return None


def test_every_model_is_tested_on_its_primary_key(manifest):
    keys = _keys_tested(manifest)
    untested = [
        m["name"] for m in _models(manifest) if not keys.get(m["unique_id"]) and not _contract_primary_key(m)
    ]
    assert untested == [], "models without unique + not_null (or unique_combination) on their key"


def test_every_model_seed_and_macro_is_described(manifest):
    nodes = _models(manifest) + _own(manifest["nodes"], "seed")
    macros = [m for m in manifest["macros"].values() if m["package_name"] == PACKAGE]
    missing = [n["unique_id"] for n in nodes + macros if not n["description"].strip()]
    assert missing == []


def test_every_model_description_ends_with_its_grain(manifest):
    missing = [m["name"] for m in _models(manifest) if "One row per" not in m["description"]]
    assert missing == [], "a model's description ends 'One row per …'"


def test_every_model_has_an_owner_through_its_group(manifest):
    groups = {g["name"]: g for g in manifest["groups"].values()}
    owned = {name for name, g in groups.items() if g["owner"].get("email") or g["owner"].get("name")}
    orphans = [
        m["name"] for m in _models(manifest) + _own(manifest["nodes"], "seed") if m["group"] not in owned
    ]
    assert owned and orphans == []


def test_staging_and_intermediate_models_keep_their_prefixes(manifest):
    wrong = [
        m["path"]
        for m in _models(manifest)
        if (m["path"].startswith("staging/") and not m["name"].startswith("stg_"))
        or (m["path"].startswith("intermediate/") and not m["name"].startswith("int_"))
    ]
    assert wrong == []  # the marts keep the spec's names (module docstring)


def test_every_source_and_source_column_is_described(manifest):
    sources = _sources(manifest)
    assert sources
    missing = [s["unique_id"] for s in sources if not s["description"].strip()]
    missing += [
        f"{s['unique_id']}.{name}"
        for s in sources
        for name, col in s["columns"].items()
        if not col["description"].strip()
    ]
    assert missing == []


def test_every_source_table_declares_every_column_of_its_ddl(manifest):
    """The columns are compared with the SQLAlchemy models Alembic migrates from (views, which
    no model declares, are checked by their description alone)."""
    tables = Base.metadata.tables
    checked, mismatched = 0, {}
    for s in _sources(manifest):
        table = tables.get(f"{s['schema']}.{s['name']}")
        if table is None:
            continue
        checked += 1
        declared, ddl = set(s["columns"]), {c.name for c in table.columns}
        if declared != ddl:
            mismatched[s["unique_id"]] = {
                "undeclared": sorted(ddl - declared),
                "unknown": sorted(declared - ddl),
            }
    assert checked and mismatched == {}


def test_every_source_table_is_tested_on_its_primary_key(manifest):
    keys = _keys_tested(manifest)
    tables = Base.metadata.tables
    untested = []
    for s in _sources(manifest):
        table = tables.get(f"{s['schema']}.{s['name']}")
        if table is None:
            continue
        pk = {c.name for c in table.primary_key.columns}
        if pk not in keys.get(s["unique_id"], []):
            untested.append((s["unique_id"], sorted(pk)))
    assert untested == []


def test_every_loaded_source_has_freshness_or_says_why_not(manifest):
    """A loaded table warns or fails when stale; a table that is not a feed (a log, a view over
    another source, curated data) says why in ``meta.no_freshness``."""
    silent = []
    for s in _sources(manifest):
        freshness = s.get("freshness") or {}
        has = any((freshness.get(k) or {}).get("count") for k in ("warn_after", "error_after"))
        how = s.get("loaded_at_field") or s.get("loaded_at_query")
        if not (has and how) and not s["meta"].get("no_freshness"):
            silent.append(s["unique_id"])
    assert silent == []


def test_sources_are_read_once_and_only_by_staging(manifest):
    """No source fan-out (a source read by two models), no model outside staging reading a
    source, and no staging model joining two sources."""
    readers: dict[str, list[str]] = defaultdict(list)
    problems = []
    for m in _own(manifest["nodes"], "model"):
        read = [n for n in m["depends_on"]["nodes"] if n.startswith("source.")]
        for source in read:
            readers[source].append(m["name"])
        if read and not m["path"].startswith("staging/"):
            problems.append(f"{m['name']} reads a source outside staging")
        if len(read) > 1:
            problems.append(f"{m['name']} joins {len(read)} sources")
    problems += [f"{s} read by {', '.join(sorted(r))}" for s, r in readers.items() if len(r) > 1]
    assert problems == []


def test_exposures_depend_on_public_models_only(manifest):
    exposures = manifest["exposures"].values()
    assert exposures
    private = [
        (e["name"], n)
        for e in exposures
        for n in e["depends_on"]["nodes"]
        if n.startswith("model.") and manifest["nodes"][n]["access"] != "public"
    ]
    assert private == []


def test_public_models_have_an_enforced_contract(manifest):
    loose = [
        m["name"]
        for m in _models(manifest)
        if m["access"] == "public" and not m["config"]["contract"]["enforced"]
    ]
    assert loose == []


def test_the_checks_see_the_project(manifest):
    """Guards the filters above: the manifest holds the project's models, seeds and sources."""
    assert len(_models(manifest)) > 20
    assert {"customer", "order_line"} <= {m["name"] for m in _models(manifest)}
    assert any(s["name"] == "sales_line" for s in _sources(manifest))
    assert Path(dbt_project_dir(), "dbt_project.yml").is_file()


def test_a_model_whose_key_tests_are_removed_is_caught(manifest):
    """The key check can fail: without its tests, a staging model's key is untested."""
    model = next(m for m in _models(manifest) if m["name"] == "stg_raw__customers")
    nodes = {k: n for k, n in manifest["nodes"].items() if n.get("attached_node") != model["unique_id"]}
    assert model["unique_id"] in _keys_tested(manifest)
    assert model["unique_id"] not in _keys_tested({**manifest, "nodes": nodes})


def test_public_models_describe_every_column(manifest):
    """A public model's columns are its contract with analysts and BI tools: each says what it is."""
    undescribed = [
        f"{m['name']}.{name}"
        for m in _models(manifest)
        if m["access"] == "public"
        for name, col in m["columns"].items()
        if not col["description"].strip()
    ]
    assert undescribed == []


# -- the semantic layer (models/marts/metrics) ------------------------------------------------

#: Semantic model → the measures the CRM team's metrics are built on (docs/warehouse.md, "Metrics").
SEMANTIC_MODELS = {
    "order_lines": {"net_revenue_ht", "purchase_revenue_ht", "orders", "active_customers"},
    "customer_profiles": {"profiled_customers"},
    "recommendations": {"recommendations", "recommended_customers"},
    "scoring_runs": {"runs", "eligible_customers", "suppressed_customers"},
    "campaign_customers": {
        "scored_customers",
        "measured_customers",
        "conversions",
        "recommended_buyers",
        "outcome_revenue_ht",
    },
}

#: The questions of issue 15: revenue, orders, active customers, customers by RFM segment over
#: time, recommendations per scenario, conversion and uplift.
CRM_METRICS = {
    "revenue": "simple",
    "orders": "simple",
    "active_customers": "simple",
    "average_order_value": "ratio",
    "customers": "simple",
    "scored_customers": "simple",
    "recommendations": "simple",
    "recommended_customers": "simple",
    "conversion_rate": "ratio",
    "conversion_uplift": "derived",
    "revenue_per_customer_uplift": "derived",
}


def _semantic_models(manifest: dict) -> dict[str, dict]:
    return {m["name"]: m for m in manifest["semantic_models"].values() if m["package_name"] == PACKAGE}


def _metrics(manifest: dict) -> dict[str, dict]:
    return {m["name"]: m for m in manifest["metrics"].values() if m["package_name"] == PACKAGE}


def test_the_semantic_models_hold_the_expected_measures(manifest):
    measures = {name: {x["name"] for x in m["measures"]} for name, m in _semantic_models(manifest).items()}
    assert measures == SEMANTIC_MODELS


def test_the_crm_metrics_are_defined(manifest):
    metrics = _metrics(manifest)
    assert {name: metrics[name]["type"] for name in CRM_METRICS if name in metrics} == CRM_METRICS
    uplift = metrics["conversion_uplift"]["type_params"]
    assert {m["name"] for m in uplift["metrics"]} == {"conversion_rate_treatment", "conversion_rate_control"}
    assert metrics["revenue"]["type_params"]["measure"]["name"] == "net_revenue_ht"


def test_every_measure_feeds_a_metric_and_everything_is_described(manifest):
    """A measure no metric uses is never queried, so MetricFlow's warehouse validation (which
    queries the metrics; tests/cli/test_grocery_end_to_end.py) would not check its SQL."""
    used = {
        m["name"] for metric in _metrics(manifest).values() for m in metric["type_params"]["input_measures"]
    }
    declared = {x["name"] for m in _semantic_models(manifest).values() for x in m["measures"]}
    assert declared - used == set()
    undescribed = [
        n for n, m in {**_semantic_models(manifest), **_metrics(manifest)}.items() if not m["description"]
    ]
    assert undescribed == []


def test_semantic_models_read_public_marts_and_a_daily_time_spine_exists(manifest):
    nodes = manifest["nodes"]
    read = [n for m in _semantic_models(manifest).values() for n in m["depends_on"]["nodes"]]
    assert read and all(nodes[n]["access"] == "public" for n in read)
    spines = [n for n in _models(manifest) if n.get("time_spine")]
    assert [s["name"] for s in spines] == ["time_spine_day"]
    column = spines[0]["time_spine"]["standard_granularity_column"]
    assert spines[0]["columns"][column]["granularity"] == "day"


def test_the_semantic_manifest_passes_the_validator_that_rejects_a_broken_metric(parsed):
    """dbt parse validates the semantic manifest with dbt-semantic-interfaces' validator (the one
    MetricFlow runs first); run on the artefact, it finds nothing, and it rejects the same
    manifest once a metric points at a measure that does not exist."""
    from dbt_semantic_interfaces.implementations.semantic_manifest import PydanticSemanticManifest
    from dbt_semantic_interfaces.validations.semantic_manifest_validator import SemanticManifestValidator

    def errors(raw: dict) -> list[str]:
        validator = SemanticManifestValidator[PydanticSemanticManifest]()
        result = validator.validate_semantic_manifest(PydanticSemanticManifest.parse_obj(raw))
        return [e.message for e in result.errors]

    raw = json.loads((parsed / "semantic_manifest.json").read_text(encoding="utf-8"))
    assert errors(raw) == []
    revenue = next(m for m in raw["metrics"] if m["name"] == "revenue")
    for ref in [revenue["type_params"]["measure"], *revenue["type_params"]["input_measures"]]:
        ref["name"] = "no_such_measure"
    assert any("no_such_measure" in e for e in errors(raw))
