"""Masking cases tests/sweep/test_security.py leaves out: every secret query name, any case,
nested data of every shape, files that cannot or need not be rewritten, the log factory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hepsweep.redaction import MASK, has_secret, mask, mask_data, mask_logs, restore, scrub_files


@pytest.mark.parametrize(
    "name", ["password", "passwd", "pwd", "token", "access_token", "api_key", "apikey", "secret", "sslpassword"]
)
def test_every_secret_query_name_is_masked_in_any_case(name: str) -> None:
    for spelled in (name, name.upper()):
        url = f"postgresql://host/db?sslmode=require&{spelled}=s3cr3t;{spelled}=again"
        assert mask(url) == f"postgresql://host/db?sslmode=require&{spelled}={MASK};{spelled}={MASK}"
        assert has_secret(url)


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://host/db?sslmode=require&user=alice",  # a user name is no secret
        "model.units=64 optimizer.lr=0.001",
        "https://host/api?tokens=abc",  # not the name 'token'
        "http://alice@host:5000",  # a user without a password
    ],
)
def test_text_without_a_secret_is_returned_unchanged(text: str) -> None:
    assert mask(text) == text and not has_secret(text)


def test_every_password_in_a_line_is_masked_and_the_rest_kept() -> None:
    line = "from mysql://a:one@h1/db to redis://:two@h2:6379/0 with ?token=three&x=1"
    assert mask(line) == f"from mysql://a:{MASK}@h1/db to redis://:{MASK}@h2:6379/0 with ?token={MASK}&x=1"
    assert mask(mask(line)) == mask(line)  # masking twice changes nothing more


def test_mask_data_keeps_the_shape_and_the_non_strings() -> None:
    value = {
        "urls": ("http://u:pw@h/", "sqlite:///x.db"),
        "nested": [{"token_url": "https://h/?token=t"}, 3, None, 1.5, True],
    }
    masked = mask_data(value)
    assert masked == {
        "urls": (f"http://u:{MASK}@h/", "sqlite:///x.db"),
        "nested": [{"token_url": f"https://h/?token={MASK}"}, 3, None, 1.5, True],
    }
    assert isinstance(masked["urls"], tuple)
    assert value["urls"][0] == "http://u:pw@h/"  # a copy: the original is untouched


def test_restore_gives_back_none_and_unmasked_text_as_they_are() -> None:
    assert restore(None, ["http://u:pw@h/"]) is None
    assert restore(f"http://u:{MASK}@h/", []) == f"http://u:{MASK}@h/"


def test_scrub_files_rewrites_only_files_with_secrets(tmp_path: Path) -> None:
    secret, clean, binary = tmp_path / "secret.yaml", tmp_path / "clean.yaml", tmp_path / "blob.bin"
    secret.write_text("storage: postgresql://u:pw@h/db\n")
    clean.write_text("storage: sqlite:///x.db\n")
    binary.write_bytes(b"\xff\xfe://u:pw@h " + bytes(range(256)))
    clean_mtime = clean.stat().st_mtime_ns
    scrub_files([secret, clean, binary, tmp_path / "missing.yaml"])  # missing and binary files are skipped
    assert secret.read_text() == f"storage: postgresql://u:{MASK}@h/db\n"
    assert clean.read_text() == "storage: sqlite:///x.db\n" and clean.stat().st_mtime_ns == clean_mtime
    assert binary.read_bytes().startswith(b"\xff\xfe://u:pw@h ")


def test_mask_logs_installs_one_masking_factory_and_keeps_plain_records(caplog: pytest.LogCaptureFixture) -> None:
    original = logging.getLogRecordFactory()
    try:
        mask_logs()
        installed = logging.getLogRecordFactory()
        mask_logs()
        assert logging.getLogRecordFactory() is installed  # not wrapped twice
        with caplog.at_level(logging.INFO):
            logging.getLogger("x").info("plain %d%%", 5)
            logging.getLogger("x").info("url %s", "http://u:pw@h/")
        assert caplog.messages == ["plain 5%", f"url http://u:{MASK}@h/"]
        # a malformed record is created as it is (logging reports it when a handler formats it)
        record = installed("x", logging.INFO, __file__, 1, "bad %d", ("not a number",), None)
        assert (record.msg, record.args) == ("bad %d", ("not a number",))
    finally:
        logging.setLogRecordFactory(original)
