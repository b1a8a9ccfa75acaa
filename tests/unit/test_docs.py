"""The docs a newcomer reads first stay true to the tree: every link resolves, the architecture page
names every module, the README stays a short guide, and no code file outgrows its one job."""

import re

import pytest
from tests_support import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.name)
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # a web address: not checked offline
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(target)
    assert broken == [], f"{page.name}: links that lead nowhere"


def test_the_architecture_page_names_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text()
    files = [*ROOT.glob("bench/**/*.py"), *ROOT.glob("models/*.py"), *ROOT.glob(".github/workflows/*.yml"),
             ROOT / "results" / "reference" / "make_reference.sh", ROOT / ".ci" / "run"]
    missing = [str(path.relative_to(ROOT)) for path in files
               if path.name != "__init__.py" and f"`{path.name}`" not in page and f"{path.name}`" not in page]
    assert missing == []


def test_the_readme_is_a_short_guide():
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024


def test_no_code_file_outgrows_300_lines():
    files = [*ROOT.glob("bench/**/*.py"), *ROOT.glob("models/*.py"), *ROOT.glob("tests/**/*.py")]
    long = {str(path.relative_to(ROOT)): n for path in files if (n := len(path.read_text().splitlines())) > 300}
    assert long == {}
