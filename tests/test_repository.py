"""The repository itself: no merge-conflict markers slip into what is committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent
MARKERS = ("<<<<<<< ", ">>>>>>> ", "=======\n")


def test_no_conflict_markers_in_tracked_files() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    found = []
    for name in filter(None, listed):
        path = ROOT / name.decode()
        if path.suffix not in {".py", ".md", ".toml", ".cfg", ".txt", ""} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(True), 1):
            if line.startswith(MARKERS):
                found.append(f"{name.decode()}:{number}")
    assert not found, f"merge-conflict markers at {found}"
