"""Writes the permission table (domain/permissions.py) into docs/mediation.md, between its markers:
the doc is generated, so it cannot drift from what the API enforces.

`python -m services.mediation.permissions_doc` rewrites the section; tests/unit/mediation/test_permissions.py
fails while the doc differs.
"""
from pathlib import Path

from services.mediation.domain.permissions import render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "mediation.md"
BEGIN, END = "<!-- permissions:begin (generated: python -m services.mediation.permissions_doc) -->", "<!-- permissions:end -->"


def with_table(text: str) -> str:
    """The doc's text with the generated table between the markers."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render_markdown()}{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(with_table(DOC.read_text(encoding="utf-8")), encoding="utf-8")
