"""Pooled connections go back to the pool without asyncpg's session reset (shared/db/pool.py): so no
statement a service runs may leave session state behind for the next borrower. Read from the source of
every module of shared/ and services/ (SQL strings included), except those that use connections of
their own."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Their statements run on a connection opened for them alone (asyncpg.connect), never a pooled one.
OWN_CONNECTIONS = {"shared/db/migrations.py", "services/mediation/live_queue.py"}
# What outlives a statement's transaction: session advisory locks, LISTEN, session settings and roles (a
# SET that starts a statement: UPDATE's follows a table), cursors held past the commit, named prepared
# statements. SET LOCAL and transaction-scoped advisory locks end with the transaction, and an ON COMMIT
# DELETE ROWS table is emptied by it (intake's batch table, kept on purpose).
SESSION_STATE = re.compile(
    r"pg_advisory_lock|pg_try_advisory_lock\b|pg_advisory_lock_shared|\bLISTEN\s|\bWITH\s+HOLD\b"
    r"|(?<=[;\"'(])\s*SET\s+(?!LOCAL\b)(SESSION\s+)?(ROLE\b|[a-z_]+\s*(=|TO\b))"
    r"|set_config\([^)]*,\s*false\)|\bPREPARE\s+\w+\s+AS\b|\bSESSION\s+AUTHORIZATION\b", re.IGNORECASE)


def session_state(source: str) -> list[str]:
    """Every piece of source text that would leave state in the session."""
    return [match.group(0) for match in SESSION_STATE.finditer(source)]


def test_the_check_finds_what_outlives_a_transaction_and_passes_what_does_not() -> None:
    assert [text.strip() for text in session_state(
        "SELECT pg_advisory_lock($1); LISTEN x; SET statement_timeout = 5;\n SET search_path TO a; "
        "SELECT set_config('a.b', '1', false)")] == [
        "pg_advisory_lock", "LISTEN", "SET statement_timeout =", "SET search_path TO", "set_config('a.b', '1', false)"]
    assert session_state('conn.execute("SET lock_timeout = 1"); conn.execute("SET ROLE auditor")') == [
        "SET lock_timeout =", "SET ROLE"]
    assert session_state("SET LOCAL lock_timeout = '1s'; UPDATE cases\nSET state = 'claimed'; UPDATE p SET role = $1; "
                         "SELECT pg_advisory_xact_lock(1); SELECT set_config('a.b', '1', true)") == []


def test_no_pooled_statement_leaves_session_state_behind() -> None:
    found = [f"{path.relative_to(ROOT)}: {text}"
             for folder in ("shared", "services") for path in sorted((ROOT / folder).rglob("*.py"))
             if str(path.relative_to(ROOT)) not in OWN_CONNECTIONS
             for text in session_state(path.read_text(encoding="utf-8"))]
    assert found == []
