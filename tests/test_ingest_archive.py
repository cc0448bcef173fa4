"""Safe zip extraction: every unsafe archive is refused with nothing written, a good one lands in the workspace."""

from __future__ import annotations

import stat
import zipfile

import pytest
from ingest_fixtures import noise_png

from dptab_core.data.archive import COMPLETE_MARKER, ZipLimits, extract_zip_safely
from dptab_core.errors import DataError


def _zip(path, members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _assert_refused(zip_path, dest, fragment: str, **kwargs):
    with pytest.raises(DataError) as err:
        extract_zip_safely(zip_path, dest, **kwargs)
    assert fragment in str(err.value), f"message does not explain the refusal: {err.value}"
    assert not dest.exists(), "a refused zip must leave nothing behind"
    assert not list(dest.parent.glob(".*partial")), "the temporary folder was left behind"


def test_good_zip_is_extracted_into_dest_and_reused(tmp_path):
    png = noise_png(tmp_path / "a.png").read_bytes()
    zip_path = _zip(tmp_path / "in.zip", {"images/a.png": png, "images/sub/b.png": png, "__MACOSX/._a.png": b"x"})
    dest = tmp_path / "ws" / "uploads" / "abc"
    assert extract_zip_safely(zip_path, dest) == dest
    assert (dest / "images" / "sub" / "b.png").read_bytes() == png
    assert not (dest / "__MACOSX").exists(), "macOS resource forks must be skipped"
    assert (dest / COMPLETE_MARKER).is_file()
    (dest / "images" / "a.png").unlink()
    extract_zip_safely(zip_path, dest)
    assert not (dest / "images" / "a.png").exists(), "a complete extraction must be reused, not redone"


def test_zip_with_dotdot_path_is_refused_and_nothing_lands_outside(tmp_path):
    zip_path = _zip(tmp_path / "evil.zip", {"images/ok.png": b"x", "../evil": b"pwned", "a/../../evil2": b"x"})
    _assert_refused(zip_path, tmp_path / "ws" / "out", "'../evil'")
    assert not (tmp_path / "ws" / "evil").exists() and not (tmp_path / "evil").exists()


def test_zip_with_absolute_path_is_refused(tmp_path):
    zip_path = _zip(tmp_path / "abs.zip", {"/etc/evil": b"x"})
    _assert_refused(zip_path, tmp_path / "out", "absolute path")
    zip_path = _zip(tmp_path / "win.zip", {"C:\\evil": b"x"})
    _assert_refused(zip_path, tmp_path / "out", "absolute path")


def test_symlink_member_is_refused(tmp_path):
    info = zipfile.ZipInfo("images/link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zip_path = tmp_path / "link.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr(info, "/etc/passwd")
    _assert_refused(zip_path, tmp_path / "out", "symbolic link")


def test_nested_zip_is_refused_by_name_and_by_content(tmp_path):
    inner = _zip(tmp_path / "inner.zip", {"a.png": b"x"}).read_bytes()
    _assert_refused(_zip(tmp_path / "n1.zip", {"more.zip": inner}), tmp_path / "out", "archive")
    _assert_refused(_zip(tmp_path / "n2.zip", {"disguised.png": inner}), tmp_path / "out", "itself a zip")


def test_total_uncompressed_size_over_the_cap_is_refused(tmp_path):
    payload = noise_png(tmp_path / "a.png", size=64).read_bytes()
    zip_path = _zip(tmp_path / "big.zip", {f"{i}.png": payload for i in range(5)})
    _assert_refused(zip_path, tmp_path / "out", "over the cap", limits=ZipLimits(max_total_bytes=3 * len(payload)))


def test_compression_ratio_over_the_cap_is_refused(tmp_path):
    zip_path = _zip(tmp_path / "bomb.zip", {"bomb.png": b"\0" * (4 * 1024**2)})
    _assert_refused(zip_path, tmp_path / "out", "zip bomb")


def test_too_many_members_is_refused(tmp_path):
    zip_path = _zip(tmp_path / "many.zip", {f"{i}.png": b"x" for i in range(5)})
    _assert_refused(zip_path, tmp_path / "out", "more than the cap", limits=ZipLimits(max_members=3))


def test_member_inflating_beyond_its_declared_size_is_refused(tmp_path):
    zip_path = _zip(tmp_path / "liar.zip", {"a.png": b"y" * 5000}, compression=zipfile.ZIP_STORED)
    data = bytearray(zip_path.read_bytes())
    # Shrink the declared size (central directory) so the real content exceeds it.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (100).to_bytes(4, "little")
    zip_path.write_bytes(bytes(data))
    with pytest.raises(DataError):
        extract_zip_safely(zip_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_a_zip_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "fake.zip"
    path.write_bytes(b"Rar!\x1a\x07\x00 not a zip")
    _assert_refused(path, tmp_path / "out", "cannot open the zip")
