"""The docs name what the code has: README's Layout and docs/architecture.md list every module; no history in the docs."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "dufm"


def _modules() -> list[Path]:
    """Every module of dufm, relative to dufm/ (a package's __init__.py included only where it is the package's face)."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.name == "__init__.py" and rel.parent != Path(".") and rel.parent.name not in ("cli",):
            continue  # a group's docstring; its face (theory, features, plots) re-exports modules named below
        out.append(rel)
    return out


def _layout() -> dict[str, str]:
    """README's Layout block: top-level entry (a package 'model/' or a module 'store.py') -> its text."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("## Layout"):]
    block = block[block.index("```") + 3:]
    block = block[: block.index("```")]
    sections, current = {}, None
    for line in block.splitlines():
        m = re.match(r"^  (\S+)\s", line + " ")
        if m:
            current = m.group(1)
            sections[current] = line
        elif current and line.strip():
            sections[current] += " " + line.strip()
    return sections


def test_the_readme_layout_names_every_module():
    sections = _layout()
    assert len(_modules()) > 40
    for rel in _modules():
        if rel.parent == Path("."):
            assert rel.name in sections, f"README's Layout does not name dufm/{rel}"
        else:
            package = f"{rel.parts[0]}/"
            assert package in sections, f"README's Layout does not name dufm/{package}"
            assert re.search(rf"\b{re.escape(rel.name)}\b", sections[package]), f"README's Layout does not name dufm/{rel}"
    for name in sections:  # and names nothing that is not there
        assert (PACKAGE / name).exists(), f"README's Layout names dufm/{name}, which does not exist"


def test_the_architecture_doc_names_every_module_and_its_entry_point():
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    table, package = {}, None
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if cells[0]:
            package = cells[0].split()[0].strip("`")
        table[(package, cells[1].strip("`").split()[0].strip("`"))] = cells[2]
    for rel in _modules():
        if rel.parts[0] == "cli":
            assert ("cli/", "one") in table, "docs/architecture.md has no row for the command line"
            continue
        if rel.parent == Path("."):
            if rel.name in ("__init__.py", "__main__.py"):
                continue
            assert f"`{rel.name}`" in text, f"docs/architecture.md does not name dufm/{rel}"
            continue
        entry = table.get((f"{rel.parts[0]}/", rel.name))
        assert entry, f"docs/architecture.md has no row for dufm/{rel}"
        assert "`" in entry, f"docs/architecture.md names no entry point of dufm/{rel}"


def test_docs_code_and_scripts_speak_of_dufm_as_it_is():
    """No tracker numbers or work-session talk in what users read."""
    pattern = re.compile(r"issue ?[0-9]|this stop|session", re.IGNORECASE)
    found = []
    for folder in ("docs", "dufm", "benchmarks", "experiments"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".md", ".py", ".toml", ".sh", ".ipynb"):
                found += [f"{path.relative_to(ROOT)}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                          if pattern.search(line)]
    found += [f"README.md:{i}" for i, line in enumerate((ROOT / "README.md").read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found
