#!/usr/bin/env python3
"""Checks that the docs describe every module: each directory under src/ingester/ has a
line in the README's Layout block and a row in the module table of docs/architecture.md.
Run by `make test` and `make check`; exits non-zero naming what is missing."""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def layout_block(readme: str) -> str:
    match = re.search(r"^## Layout\n+```\n(.*?)^```", readme, re.S | re.M)
    if match is None:
        sys.exit("check_docs: README.md has no '## Layout' section with a code block")
    return match.group(1)


def main() -> int:
    modules = sorted(p.name for p in (ROOT / "src" / "ingester").iterdir() if p.is_dir())
    layout = layout_block((ROOT / "README.md").read_text())
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for name in modules:
        if not re.search(rf"^src/ingester/{re.escape(name)}/\s", layout, re.M):
            missing.append(f"README.md, Layout: no line for src/ingester/{name}/")
        if not re.search(rf"^\| `{re.escape(name)}` \|", architecture, re.M):
            missing.append(f"docs/architecture.md, module table: no row for `{name}`")
    for line in missing:
        print(f"check_docs: {line}")
    print(f"check_docs: {len(modules)} modules, {len(missing)} missing from the docs")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
