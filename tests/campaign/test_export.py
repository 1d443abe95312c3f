"""reco export on a real server: consent checked again, never a control, same bytes twice."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import polars as pl
import pytest

from reco.campaign.export import COLUMNS, LAYOUTS, export_run
from reco.cli.main import main
from reco.scoring.inputs import MARTS_READ
from reco.scoring.marts import export_parquet
from tests.campaign.conftest import codes, sql
from tests.scoring.conftest import AS_OF

EXPORT_DAY = AS_OF + timedelta(days=1)


def _exported(path, separator=",") -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8")), delimiter=separator))


def _opt_out(db, code: str) -> None:
    """An opt-out as `reco load customers` lands it: a new raw.customer record of the customer."""
    sql(
        db,
        """insert into raw.customer (customer_code, email, is_contactable, is_bounced, is_optout,
               batch_id, source_file, source_row)
           select customer_code, email, true, false, true, 'later', 'later.csv', 1
           from marts.customer where customer_code = %s""",
        (code,),
    )


def _contact(db, code: str, day, campaign: str = "other") -> None:
    sql(
        db,
        """insert into raw.contact (customer_code, contact_date, channel, campaign_id, status,
               batch_id, source_file, source_row)
           values (%s, %s, 'email', %s, 'sent', 'later', 'later.csv', 1)""",
        (code, day, campaign),
    )
    # on a dbt-built warehouse marts.contact_history is a view over raw.contact: it sees it too
    sql(
        db,
        "insert into marts.contact_history (customer_code, contact_date, channel, is_control) "
        "values (%s, %s, 'email', false)",
        (code, day),
    )


def test_only_treated_customers_are_exported_never_a_control(scored, tmp_path):
    out = tmp_path / "r1.csv"
    summary = export_run(scored, "r1", out, as_of=EXPORT_DAY)
    rows = _exported(out)
    exported = {r["customer_code"] for r in rows}
    assert exported == codes(scored, "r1", "treatment")
    assert not exported & codes(scored, "r1", "control")
    assert summary.exported == len(rows) and summary.control == len(codes(scored, "r1", "control")) > 0
    assert list(rows[0]) == COLUMNS
    assert [r["customer_code"] for r in rows] == sorted(exported)
    items = sql(scored, "select count(*) from reco.reco_item where run_id = 'r1' and rank = 1")[0][0]
    assert summary.exported < items  # the controls have items, which are not exported


@pytest.fixture(params=["postgres", "parquet"])
def read_from(request, scored, tmp_path) -> str | None:
    """``--marts`` of the export: PostgreSQL, or Parquet marts exported when the run was scored
    (so as stale as a Spark build of that day when consent changes after it)."""
    if request.param == "postgres":
        return None
    export_parquet(scored, tmp_path / "lake", list(MARTS_READ))
    return f"parquet:{tmp_path / 'lake'}"


def test_an_opt_out_a_bounce_or_a_contact_after_the_run_is_left_out_and_audited(scored, tmp_path, read_from):
    treated = sorted(codes(scored, "r1", "treatment"))
    opted_out, contacted = treated[0], treated[1]
    _opt_out(scored, opted_out)
    _contact(scored, contacted, EXPORT_DAY)
    summary = export_run(scored, "r1", tmp_path / "r1.csv", as_of=EXPORT_DAY, marts=read_from)
    exported = {r["customer_code"] for r in _exported(tmp_path / "r1.csv")}
    assert opted_out not in exported and contacted not in exported
    assert exported == set(treated) - {opted_out, contacted}
    audits = sql(
        scored,
        "select customer_code, reason_code from reco.audit_item "
        "where run_id = 'r1' and kind = 'export_suppressed' order by 1",
    )
    assert audits == sorted([(opted_out, "opted_out"), (contacted, "silence_window")])
    assert summary.suppressed_by_reason == {"opted_out": 1, "silence_window": 1}
    status = dict(
        sql(scored, "select customer_code, export_status from reco.run_customer where run_id = 'r1'")
    )
    assert status[opted_out] == status[contacted] == "suppressed"
    assert {c for c, s in status.items() if s == "exported"} == exported
    # exported again: the audits are replaced, not piled up
    export_run(scored, "r1", tmp_path / "again.csv", as_of=EXPORT_DAY, marts=read_from)
    assert sql(scored, "select count(*) from reco.audit_item where kind = 'export_suppressed'") == [(2,)]


def test_an_export_reading_parquet_marts_writes_the_same_bytes(scored, tmp_path):
    export_parquet(scored, tmp_path / "lake", list(MARTS_READ))
    export_run(scored, "r1", tmp_path / "pg.csv", as_of=EXPORT_DAY)
    export_run(scored, "r1", tmp_path / "pq.csv", as_of=EXPORT_DAY, marts=f"parquet:{tmp_path / 'lake'}")
    assert (tmp_path / "pq.csv").read_bytes() == (tmp_path / "pg.csv").read_bytes()


def test_a_contact_older_than_the_runs_silence_window_does_not_leave_anyone_out(scored, tmp_path):
    code = sorted(codes(scored, "r1", "treatment"))[0]
    _contact(scored, code, EXPORT_DAY - timedelta(days=14))  # silence_days = 14: day 15 is free
    export_run(scored, "r1", tmp_path / "r1.csv", as_of=EXPORT_DAY)
    assert code in {r["customer_code"] for r in _exported(tmp_path / "r1.csv")}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_the_same_run_exported_twice_gives_the_same_bytes(scored, tmp_path, fmt):
    export_run(scored, "r1", tmp_path / f"a.{fmt}", fmt=fmt, layout="brevo", as_of=EXPORT_DAY)
    export_run(scored, "r1", tmp_path / f"b.{fmt}", fmt=fmt, layout="brevo", as_of=EXPORT_DAY)
    first = (tmp_path / f"a.{fmt}").read_bytes()
    assert first == (tmp_path / f"b.{fmt}").read_bytes()
    if fmt == "parquet":
        frame = pl.read_parquet(tmp_path / "a.parquet")
        assert frame.columns == [LAYOUTS["brevo"].names[c] for c in COLUMNS]
        assert frame.height == len(codes(scored, "r1", "treatment"))
    if fmt == "xlsx":
        frame = pl.read_excel(tmp_path / "a.xlsx")
        assert frame.height == len(codes(scored, "r1", "treatment"))
        assert frame.columns[:2] == ["EMAIL", "FIRSTNAME"]


def test_a_run_that_did_not_succeed_is_refused_in_one_line(use_db, tmp_path, capsys):
    sql(use_db, "insert into reco.reco_run (run_id, status, config_json) values ('bad', 'failed', '{}')")
    assert main(["export", "--run-id", "bad", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: run 'bad' did not succeed (status failed); only a succeeded run is exported"
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("layout", "separator", "header"),
    [
        ("generic", ",", ["email", "first_name", "customer_code", "scenario", "product_1_key"]),
        ("brevo", ";", ["EMAIL", "FIRSTNAME", "CUSTOMER_CODE", "SCENARIO", "PRODUCT_1_KEY"]),
        ("mailchimp", ",", ["Email Address", "First Name", "CUSTCODE", "SCENARIO", "P1KEY"]),
    ],
)
def test_each_layout_has_its_tools_header_delimiter_and_utf8(
    scored, tmp_path, capsys, layout, separator, header
):
    code = sorted(codes(scored, "r1", "treatment"))[0]
    sql(scored, "update marts.customer set first_name = 'Zoé; \"Ça\"' where customer_code = %s", (code,))
    out = tmp_path / f"{layout}.csv"
    args = ["export", "--run-id", "r1", str(out), "--layout", layout, "--as-of", str(EXPORT_DAY), "--json"]
    assert main(args) == 0
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without a byte-order mark
    text = raw.decode("utf-8")
    assert text.splitlines()[0].split(separator)[:5] == header
    rows = list(csv.reader(io.StringIO(text), delimiter=separator))
    assert all(len(r) == len(COLUMNS) for r in rows)
    first_name = rows[0].index(header[1])
    assert [r[first_name] for r in rows if code in r] == ['Zoé; "Ça"']
    if layout == "mailchimp":
        assert all(len(name) <= 10 for name in rows[0][2:])


def test_reasons_are_a_line_of_plain_words(scored, tmp_path):
    export_run(scored, "r1", tmp_path / "r1.csv", as_of=EXPORT_DAY)
    rows = _exported(tmp_path / "r1.csv")
    reasons = [r[f"product_{k}_reason"] for r in rows for k in (1, 2, 3) if r[f"product_{k}_key"]]
    assert all(reasons) and all("{" not in r for r in reasons)
    # each is the item's reasons_json.why (reco/scoring/why.py), the words the run recorded
    stored = dict(
        sql(
            scored,
            "select customer_code || rank, reasons_json ->> 'why' from reco.reco_item where run_id = 'r1'",
        )
    )
    assert all(
        r[f"product_{k}_reason"] == stored[r["customer_code"] + str(k)]
        for r in rows
        for k in (1, 2, 3)
        if r[f"product_{k}_key"]
    )
    rebuy = [r["product_1_reason"] for r in rows if r["scenario"] == "REBUY"]
    assert rebuy and all(r.startswith(("you buy it every ", "you bought it once, ")) for r in rebuy)
    assert any(r.startswith("often bought with ") for r in reasons)
