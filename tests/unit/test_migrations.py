"""Migration files are found, ordered and kept per component."""
from shared.db.migrations import load


def test_shared_migrations_load_in_order_and_create_the_idempotency_ledger():
    migrations = load("shared", "shared.db")
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1 and "processed_events" in migrations[0].sql
    assert all(m.component == "shared" for m in migrations)


def test_a_package_without_a_migrations_folder_has_no_migrations():
    assert load("unit", "tests.unit") == []
