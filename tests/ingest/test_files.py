"""Reading export files: encoding detection, old Mac line ends, what is not a file, compressed
exports, and a file that repeats itself."""

from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from reco.cli.main import main
from reco.ingest import LoadFailed, LoadOptions, load_files
from tests.ingest.helpers import count, rows, scalar

HEADER = "doc_ref;order_date;customer_code;product_key;product_label;quantity;unit_price\n"
LABELS = ["CRÈME BRÛLÉE", "Pâté en croûte", "Bûche de Noël", "Cœur de bœuf", "Crémant d'Alsace"]
LINES = [
    f"F{i};2024-01-0{1 + i % 5};C{i % 3};P{i};{LABELS[i % 5]};{1 + i % 4};{10 + i},5\n" for i in range(40)
]
TEXT = HEADER + "".join(LINES)


def batch(db) -> dict:
    """The last batch's audit record: its options and files."""
    files, options = rows(db, "select files, options from raw.load_batch order by loaded_at desc limit 1")[0]
    return {"files": files, "options": options}


def labels(db) -> set[str]:
    return {label for (label,) in rows(db, "select distinct product_label from raw.sales_line")}


# -- Encodings --------------------------------------------------------------------------------


def test_utf8_file_with_one_invalid_byte_is_refused_naming_line_offset_and_candidates(db, tmp_path):
    data = bytearray(TEXT.encode("utf-8"))
    bad = data.index("Bûche".encode()) + 1  # the first byte of 'û'
    data[bad] = 0xFF
    f = tmp_path / "damaged.csv"
    f.write_bytes(bytes(data))
    with pytest.raises(LoadFailed) as info:
        load_files(db, "sales", [f])
    message = str(info.value)
    line = data.count(b"\n", 0, bad) + 1
    assert "damaged.csv: unsure of the encoding" in message
    assert f"0xff at line {line}" in message and f"offset {bad} in the file" in message
    assert "candidates: utf-8" in message and "cp1252" in message and "--encoding" in message
    assert count(db, "raw.sales_line") == 0  # no mojibake landed ("CRÃˆME BRÃ›LÃ‰E")
    # Choosing is the user's call: cp1252 reads the bytes as they are.
    load_files(db, "sales", [f], LoadOptions(encoding="cp1252"))
    assert "CRÃˆME BRÃ›LÃ‰E" in labels(db)
    assert batch(db)["files"][0]["encoding_chosen_by"] == "given"


def test_a_file_the_detector_reads_otherwise_than_cp1252_is_refused_naming_the_candidates(db, tmp_path):
    f = tmp_path / "cyrillic.csv"
    text = TEXT
    cyrillic = ["Сыр плавленый", "Пирог с мясом", "Торт праздничный", "Говяжье сердце", "Игристое вино"]
    for latin, cyr in zip(LABELS, cyrillic, strict=True):
        text = text.replace(latin, cyr)
    f.write_bytes(text.encode("cp1251"))
    with pytest.raises(
        LoadFailed, match=r"cyrillic.csv: unsure of the encoding: .*cp1251.*cp1252.*--encoding cp1251"
    ):
        load_files(db, "sales", [f])
    load_files(db, "sales", [f], LoadOptions(encoding="cp1251"))
    assert "Сыр плавленый" in labels(db)


@pytest.mark.parametrize(
    ("encoding", "chosen_by", "recorded"),
    [
        ("utf-8", "detected", "utf-8"),
        ("utf-8-sig", "BOM", "utf-8-sig"),
        ("utf-16", "BOM", "utf-16"),
        ("cp1252", "detected", "cp1252"),
    ],
)
def test_the_encoding_used_and_how_it_was_chosen_are_in_the_batch_audit(
    db, tmp_path, encoding, chosen_by, recorded
):
    f = tmp_path / f"{encoding}.csv"
    f.write_bytes(TEXT.encode(encoding))
    report = load_files(db, "sales", [f])
    assert report.loaded == len(LINES) and labels(db) == set(LABELS)
    audit = batch(db)["files"][0]
    assert (audit["encoding"], audit["encoding_chosen_by"]) == (recorded, chosen_by)
    if encoding == "cp1252":
        assert audit["encoding_detail"].startswith("charset-normalizer: cp1252")


# -- Line ends, and what is not a file -----------------------------------------------------------


def test_old_mac_cr_line_ends_load_like_lf(db, tmp_path):
    f = tmp_path / "mac.csv"
    text = TEXT.replace(LINES[3], 'F3;2024-01-04;C0;P3;"two\rlines";1;13,5\n')
    f.write_bytes(text.replace("\n", "\r").encode("cp1252"))
    report = load_files(db, "sales", [f])
    assert (report.loaded, report.rejected) == (len(LINES), 0)
    assert labels(db) == set(LABELS) | {"two\rlines"}  # a CR inside quotes is text, kept
    assert scalar(db, "select unit_price from raw.sales_line where source_row = 40") == 49.5


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        (Path("/dev/null"), 1, "/dev/null: not a regular file (a character device)"),
        (None, 2, "is a directory"),  # caught by the command line (a usage error)
    ],
)
def test_a_directory_or_a_device_is_named_for_what_it_is(use_db, tmp_path, capsys, path, code, message):
    path = path or tmp_path
    assert main(["load", "sales", str(path)]) == code
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "no such file" not in err
    assert len([line for line in err.splitlines() if message in line]) == 1


# -- Compressed exports ----------------------------------------------------------------------------


def test_gzip_and_single_csv_zip_load_like_the_csv_with_lineage(db, tmp_path):
    plain = TEXT.encode("cp1252")
    gz = tmp_path / "sales.csv.gz"
    gz.write_bytes(gzip.compress(plain))
    zp = tmp_path / "sales.csv.zip"
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("export/sales.csv", plain)
    for f in (gz, zp):
        report = load_files(db, "sales", [f], LoadOptions(reload=True))
        audit = report.files[0]
        assert (audit.format, audit.encoding, audit.delimiter) == ("csv", "cp1252", ";")
        assert audit.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
        assert audit.content_sha256 == hashlib.sha256(plain).hexdigest()
        assert audit.rows_read == len(LINES)
    assert [f["compression"] for f in batch(db)["files"]] == ["zip"]
    assert batch(db)["files"][0]["member"] == "export/sales.csv"
    assert count(db, "raw.sales_line") == len(LINES)  # the zip's lines were the gzip's
    assert labels(db) == set(LABELS)
    lineage = rows(db, "select distinct source_file, source_sha256 from raw.sales_line_lineage")
    assert lineage == [(str(gz), hashlib.sha256(gz.read_bytes()).hexdigest())]


@pytest.mark.parametrize("members", [["a.csv", "b.csv"], []])
def test_a_zip_with_several_files_or_none_is_one_clear_error(db, tmp_path, members):
    f = tmp_path / "many.zip"
    with zipfile.ZipFile(f, "w") as z:
        for m in members:
            z.writestr(m, TEXT)
    with pytest.raises(LoadFailed, match=r"many.zip: a zip must hold exactly one export file; it holds"):
        load_files(db, "sales", [f])


# -- A file that repeats itself ---------------------------------------------------------------------


@pytest.mark.parametrize("with_header", [True, False])
def test_a_file_concatenated_with_itself_loads_but_warns_and_is_audited(
    use_db, tmp_path, capsys, with_header
):
    f = tmp_path / "twice.csv"
    f.write_text(TEXT + ("" if not with_header else HEADER) + "".join(LINES))
    assert main(["load", "sales", str(f)]) == 0
    out = capsys.readouterr().out
    expected = "repeat the 40 before it" if with_header else "repeats the first half (rows 1-40)"
    assert "warning:" in out and expected in " ".join(out.split())
    warnings = batch(use_db)["files"][0]["warnings"]
    assert len(warnings) == 1 and expected in warnings[0]
    assert count(use_db, "raw.sales_line") == 2 * len(LINES)  # repeated lines are legitimate


def test_a_file_with_repeated_lines_but_not_repeated_whole_does_not_warn(db, tmp_path):
    f = tmp_path / "once.csv"
    f.write_text(HEADER + LINES[0] * 2 + "".join(LINES[1:]) + LINES[1])
    report = load_files(db, "sales", [f])
    assert report.warnings == [] and json.dumps(batch(db)["files"][0]["warnings"]) == "[]"


def test_ten_thousand_unknown_columns_are_one_short_readable_line(use_db, tmp_path, capsys):
    f = tmp_path / "wide.csv"
    extra = [f"extra_column_{i}" for i in range(10_000)]
    f.write_text(",".join(["doc_ref", *extra]) + "\n" + ",".join(["F1"] + ["x"] * 10_000) + "\n")
    assert main(["load", "sales", str(f)]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith(("[1/1] load sales", "    sales: "))]
    assert len(errors) == 1 and len(errors[0]) < 1_000, err
    assert "unknown column 'extra_column_0' (and 'extra_column_1'" in err
    assert "'extra_column_4') and 9,995 more" in err and "extra_column_5'" not in err
    assert "wide.csv" in err
