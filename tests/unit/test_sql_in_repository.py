"""Every SQL statement of a service is in its repository.py (docs/architecture.md): no other module of a
service runs a statement on a pool or connection, or uses a repository's SQL constant. Read with ast from
every module's source, so a statement anywhere in a module counts."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# asyncpg's methods that run SQL. The live queue's LISTEN connection (add_listener) issues no statement
# of the service's own.
RUNS_SQL = {"fetch", "fetchrow", "fetchval", "execute", "executemany", "cursor", "prepare",
            "copy_records_to_table", "copy_to_table", "copy_from_query", "copy_from_table"}


def outside_the_repository(source: str) -> list[tuple[int, str]]:
    """(line, what) of every statement run and every repository constant used in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNS_SQL:
            found.append((node.lineno, f".{node.func.attr}()"))
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "repository"
              and node.attr.isupper() and len(node.attr) > 2):
            found.append((node.lineno, f"repository.{node.attr}"))
    return found


def test_the_check_finds_a_statement_and_a_constant() -> None:
    source = "async def f(conn):\n    await conn.fetch(repository.CASES, 1)\n    return repository.case_by_id\n"
    assert sorted(outside_the_repository(source)) == [(2, ".fetch()"), (2, "repository.CASES")]


def test_no_service_module_runs_sql_outside_its_repository() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}: {what}"
             for path in sorted((ROOT / "services").rglob("*.py")) if path.name != "repository.py"
             for line, what in outside_the_repository(path.read_text(encoding="utf-8"))]
    assert found == []
