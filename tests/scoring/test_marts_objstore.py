"""``reco export-marts s3://…`` then ``reco score --marts parquet:s3://…`` (and ``reco export``)
against an S3-compatible server (tests/support/s3.py): the items of a run from PostgreSQL's marts,
consent still from PostgreSQL (a customer opted out after the export gets nothing), and a missing
or half-written table refused as on a folder."""

from __future__ import annotations

import polars as pl
import psycopg
import pytest

from reco.cli.main import main
from reco.errors import RecoError
from reco.lake import Store
from reco.scoring.inputs import read_inputs
from reco.scoring.marts import ParquetMarts
from tests.ingest.helpers import rows
from tests.scoring.conftest import AS_OF
from tests.support import s3

#: the S3-compatible server and a bucket per test (tests/support/s3.py)
s3_endpoint, bucket = s3.s3_endpoint, s3.bucket

ITEMS = (
    "select customer_code, scenario, rank, product_key from reco.reco_item where run_id = %s order by 1, 2, 3"
)


def test_score_from_marts_on_s3_gives_the_items_of_postgresql_marts_and_consent_holds(
    marts, use_db, bucket, tmp_path, capsys
):
    uri = f"s3://{bucket}/marts"
    assert main(["export-marts", uri]) == 0
    assert f"{uri}/customer:" in capsys.readouterr().out
    assert Store(uri).names("customer") == ["_SUCCESS", "part-0.parquet"]
    day = str(AS_OF)
    assert main(["score", "--run-id", "pg", "--as-of", day]) == 0
    assert main(["score", "--run-id", "s3", "--as-of", day, "--marts", f"parquet:{uri}"]) == 0
    from_pg, from_s3 = rows(use_db, ITEMS, ("pg",)), rows(use_db, ITEMS, ("s3",))
    assert from_s3 and from_s3 == from_pg
    marts_of = "select input_fingerprint->>'marts' from reco.reco_run where run_id = 's3'"
    assert rows(use_db, marts_of) == [(f"parquet:{uri}",)]

    # opted out in raw.customer after the export: the Parquet marts still call them contactable
    target = from_s3[0][0]
    with psycopg.connect(use_db.conninfo()) as conn:
        conn.execute(
            "insert into raw.customer (batch_id, source_file, source_row, customer_code, email, is_optout)"
            " values ('optout', 'optout.csv', 1, %s, 'x@example.com', true)",
            (target,),
        )
    assert main(["score", "--run-id", "s3-optout", "--as-of", day, "--marts", f"parquet:{uri}"]) == 0
    after = rows(use_db, ITEMS, ("s3-optout",))
    assert after and target not in {c for c, *_ in after}
    reasons = rows(
        use_db,
        "select reason_code from reco.audit_item where run_id = 's3-optout' and kind = 'suppressed'"
        " and customer_code = %s",
        (target,),
    )
    assert ("opted_out",) in reasons, reasons
    out = tmp_path / "campaign.csv"
    assert main(["export", str(out), "--run-id", "s3-optout", "--marts", f"parquet:{uri}"]) == 0
    exported = pl.read_csv(out)
    assert exported.height > 0 and target not in exported["customer_code"].to_list()


def test_parquet_marts_on_s3_refuse_a_missing_prefix_table_or_half_written_one(marts, use_db, bucket):
    uri = f"s3://{bucket}/marts"
    with pytest.raises(RecoError, match="nothing under this prefix"):
        ParquetMarts(uri)
    main(["export-marts", uri])
    store = Store(uri)
    store.fs.delete_dir(store.path("client_master_profile"))  # the "folder" gone, as rmtree
    with pytest.raises(RecoError, match=rf"scoring inputs missing: parquet:{uri}/client_master_profile"):
        read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(uri))
    main(["export-marts", uri])
    store.put_bytes(b"", "product", "_temporary", "0", "part-x.parquet")
    with pytest.raises(RecoError, match="_temporary folder"):
        read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(uri))
