"""Reading WFDB records, and the DataError every bad input gives (naming the file)."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import wfdb

from ecg_synth.data.build import build_segments
from ecg_synth.data.wfdb_io import DataError, ensure_downloaded, list_records, read_record

BEATS = {"kind": "beat", "pre_s": 0.25, "post_s": 0.45, "length": 256}


def test_read_record_matches_wfdb_and_orders_leads(make_record):
    rec = make_record("100")
    got = read_record(rec.root, "100", ["V1", "MLII"])
    ref = wfdb.rdrecord(str(rec.path))
    assert got.signal.shape == (2, rec.n_samples) and got.fs == 360.0
    assert got.leads == ["V1", "MLII"]
    np.testing.assert_array_equal(got.signal[0], ref.p_signal[:, 1])  # V1 first, as asked
    np.testing.assert_array_equal(got.signal[1], ref.p_signal[:, 0])
    np.testing.assert_array_equal(got.ann_samples, rec.ann_samples)
    assert list(got.ann_symbols) == rec.ann_symbols


def test_missing_lead_skip_warns_with_leads_it_has(make_record, caplog):
    rec = make_record("900", leads=("V1", "V2"))
    with caplog.at_level(logging.WARNING):
        assert read_record(rec.root, "900", ["MLII"], "skip") is None
    assert "900" in caplog.text and "V1" in caplog.text and "V2" in caplog.text


def test_missing_lead_error_names_file(make_record):
    rec = make_record("900", leads=("V1", "V2"))
    with pytest.raises(DataError, match=r"900\.hea.*MLII.*V1"):
        read_record(rec.root, "900", ["MLII"], "error")


def test_list_records_from_records_file_or_headers(make_record):
    for name in ("100", "101", "102"):
        rec = make_record(name)
    assert list_records(rec.root) == ["100", "101", "102"]
    assert list_records(rec.root, exclude=["101"]) == ["100", "102"]
    (rec.root / "RECORDS").write_text("102\n100\n999\n")  # 999 absent: ignored with a log
    assert list_records(rec.root) == ["102", "100"]
    with pytest.raises(DataError, match="999"):
        list_records(rec.root, records=["100", "999"])


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "nowhere")):
        list_records(tmp_path / "nowhere")


def test_missing_annotation_file(make_record):
    rec = make_record("100")
    (rec.root / "100.atr").unlink()
    with pytest.raises(DataError, match=r"100\.atr"):
        read_record(rec.root, "100")


def test_corrupt_header(make_record):
    rec = make_record("100")
    (rec.root / "100.hea").write_text("100 two 360\nnot a signal line\n")
    with pytest.raises(DataError, match=r"100\.hea.*corrupt"):
        read_record(rec.root, "100")


def test_corrupt_annotation(make_record):
    rec = make_record("100")
    (rec.root / "100.atr").write_bytes(b"\x01\x02\x03")
    with pytest.raises(DataError, match=r"100\.atr.*corrupt"):
        read_record(rec.root, "100")


@pytest.mark.parametrize("fmt", ["212", "16"])
def test_truncated_signal_file(make_record, fmt):
    rec = make_record("100", fmt=fmt)
    dat = rec.root / "100.dat"
    with open(dat, "r+b") as fh:
        fh.truncate(dat.stat().st_size // 2)
    with pytest.raises(DataError, match=r"100\.dat.*truncated"):
        read_record(rec.root, "100")


def test_window_longer_than_record(make_record, tmp_path):
    rec = make_record("100", duration_s=2.0)
    source = {"kind": "wfdb", "root": str(rec.root), "leads": ["MLII"]}
    with pytest.raises(DataError, match=r"100\.hea.*longer than the record"):
        build_segments(source, {}, {"kind": "rhythm", "window_s": 4.0, "stride_s": 4.0}, None)
    with pytest.raises(DataError, match=r"100\.hea.*longer than the record"):
        build_segments(source, {}, {**BEATS, "length": 1000}, None)


def test_no_record_has_the_lead(make_record):
    rec = make_record("900", leads=("V1", "V2"))
    with pytest.raises(DataError, match="MLII"):
        build_segments({"root": str(rec.root)}, {}, BEATS, None)


def test_download_offline_says_what_to_do(tmp_path, monkeypatch):
    # A proxy on a closed local port makes every request fail at once, as offline would.
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "mitdb"
    with pytest.raises(DataError, match=rf"{root}.*Put its WFDB files .* in {root}.*network"):
        ensure_downloaded(root, "mitdb")
    assert (root / ".download-incomplete").exists()  # next call retries instead of trusting it


def test_download_skipped_when_records_present(make_record, monkeypatch):
    rec = make_record("100")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    ensure_downloaded(rec.root, "mitdb")  # no network needed: nothing raised
    assert sorted(os.listdir(rec.root)) == ["100.atr", "100.dat", "100.hea"]
