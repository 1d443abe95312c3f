"""The embedded server's data folder and the password file are their owner's alone."""

from __future__ import annotations

import os
import stat

from reco.db.embedded import EmbeddedServer
from reco.db.target import Database, parse_url, write_passfile


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_is_private_even_after_someone_opened_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RECO_HOME", str(tmp_path / "home"))
    server = EmbeddedServer(tmp_path / "home")
    try:
        server.start()
        assert _mode(server.pgdata) == 0o700
        if os.geteuid() != 0:  # as root, pgserver runs postgres as the user "pgserver", who
            assert _mode(server.home) == 0o700  # must be able to walk down to the data folder
        server.stop()
        server.pgdata.chmod(0o750)  # PostgreSQL itself accepts a group-readable data folder
        server.start()
        assert _mode(server.pgdata) == 0o700
    finally:
        server.stop()


def test_the_password_file_is_private_even_when_it_existed_open(tmp_path, monkeypatch):
    monkeypatch.setenv("RECO_HOME", str(tmp_path / "home"))
    db = Database(parse_url("postgresql://bob:s3cret@db.example:5433/crm", "test"), "test")
    passfile = write_passfile(db)
    assert _mode(passfile) == 0o600 and _mode(passfile.parent) == 0o700
    passfile.chmod(0o644)
    assert _mode(write_passfile(db)) == 0o600
    assert passfile.read_text() == "db.example:5433:crm:bob:s3cret\n"
