"""`make vendor`: pinned tarballs are checked before anything is extracted; the committed files are those pins."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from api.web import vendor


def _tarball(member: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_a_tarball_with_another_checksum_is_refused_and_a_good_one_extracted() -> None:
    tarball = _tarball("package/dist/lib.js", b"var lib = 1;\n//# sourceMappingURL=lib.js.map\n")
    good = vendor.Package("lib", "1.0.0", hashlib.sha256(tarball).hexdigest(), "package/dist/lib.js", "lib.js")
    assert vendor.extract(good, tarball) == b"var lib = 1;\n"  # the source-map line is dropped
    tampered = vendor.Package("lib", "1.0.0", "0" * 64, "package/dist/lib.js", "lib.js")
    with pytest.raises(SystemExit, match="is not the pinned"):
        vendor.extract(tampered, tarball)
    assert good.url == "https://registry.npmjs.org/lib/-/lib-1.0.0.tgz"


def test_the_committed_files_are_the_pinned_versions() -> None:
    pins = {p.target: p.version for p in vendor.PACKAGES}
    htmx = (vendor.VENDOR_DIR / "htmx.min.js").read_text()
    chart = (vendor.VENDOR_DIR / "chart.umd.min.js").read_text()
    assert f'version:"{pins["htmx.min.js"]}"' in htmx
    assert chart.startswith(f"/*!\n * Chart.js v{pins['chart.umd.min.js']}")
    assert "sourceMappingURL" not in htmx + chart
