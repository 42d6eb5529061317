"""`make vendor`: the dashboard's JavaScript libraries, fetched from the npm registry at pinned versions and
checked against pinned SHA-256 sums, extracted to `api/web/static/vendor/`. The files are committed, so the
dashboard never loads code from a CDN and runs without this step; run it to re-fetch or after changing a pin."""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str  # of the registry tarball
    member: str  # the one file we serve, inside the tarball
    target: str

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"


PACKAGES = (
    Package("htmx.org", "2.0.11", "165a2655073e9e6e55e307a7c74e8ebcdb76afb7701f9c16cfd106a13add408e",
            "package/dist/htmx.min.js", "htmx.min.js"),
    Package("chart.js", "4.6.1", "9345dacdf4bb4c5d40321f4b9aafab6fe676d37a534fc0bc2d17c4c4e29c4f00",
            "package/dist/chart.umd.min.js", "chart.umd.min.js"),
)


def extract(package: Package, tarball: bytes) -> bytes:
    digest = hashlib.sha256(tarball).hexdigest()
    if digest != package.sha256:
        raise SystemExit(f"{package.name} {package.version}: sha256 {digest} is not the pinned {package.sha256}")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(package.member)
        if member is None:
            raise SystemExit(f"{package.name}: {package.member} is not a file in the tarball")
        text = member.read()
    # The source map is not vendored; without this line the browser would ask for it.
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith(b"//# sourceMappingURL=")]
    return b"".join(lines)


def main() -> None:
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        with urllib.request.urlopen(package.url, timeout=60) as response:
            tarball = response.read()
        (VENDOR_DIR / package.target).write_bytes(extract(package, tarball))
        print(f"{package.name} {package.version} -> {VENDOR_DIR / package.target}", file=sys.stderr)


if __name__ == "__main__":
    main()
