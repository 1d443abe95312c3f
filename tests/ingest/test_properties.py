"""Property: for any file, rows read = loaded + rejected + duplicates skipped, and the database
agrees (hypothesis against the real PostgreSQL fixture)."""

from __future__ import annotations

import csv
import io
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reco.ingest import load_files
from tests.ingest.helpers import count

HEADER = ["doc_ref", "order_date", "customer_code", "product_key", "quantity", "unit_price"]
FIELDS = [
    st.sampled_from(["F1", "F2", "C3", "A4", ""]),
    st.sampled_from(["2024-01-01", "2024-01-02 10:00", "31/02/2024", "", "soon"]),
    st.sampled_from(["C1", "C2", "", "N/A"]),
    st.sampled_from(["P1", "P2", "POST", ""]),
    st.sampled_from(["1", "2", "-1", "0", "1,5", "x", ""]),
    st.sampled_from(["1.5", "2,5", "-3", "abc", "", '1"2']),
]
ROW = st.tuples(*FIELDS).map(list) | st.lists(st.sampled_from(["F1", "1", ""]), max_size=8)
_files = itertools.count()


def _csv(rows: list[list[str]], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(r if r else ["x"] for r in rows)  # an empty list would be a blank line
    return out.getvalue().encode()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(ROW, max_size=25), delimiter=st.sampled_from([",", ";", "|", "\t"]))
def test_rows_read_equal_loaded_plus_rejected_plus_duplicates(db, tmp_path, rows, delimiter):
    path = tmp_path / f"sales_{next(_files)}.csv"
    path.write_bytes(_csv(rows, delimiter))
    before = count(db, "raw.sales_line"), count(db, "raw.reject")
    report = load_files(db, "sales", [path])
    f = report.files[0]
    assert f.rows_read == len(rows)
    assert f.rows_read == f.loaded + f.rejected + f.duplicates
    assert sum(f.rejected_by_reason.values()) >= f.rejected
    if f.already_loaded_in is None:
        assert count(db, "raw.sales_line") - before[0] == f.loaded
        assert count(db, "raw.reject") - before[1] == f.rejected
