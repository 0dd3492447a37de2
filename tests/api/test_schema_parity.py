"""Both engines end up with one schema: `plinth migrate` on an empty SQLite database
and on an empty PostgreSQL database gives the same tables with the same columns, of
the same type in a small common vocabulary (DESIGN.md: "same numbers, same tables,
same columns in both").

Needs the throwaway PostgreSQL of the api-postgres phase (PLINTH_TEST_PG_ADMIN_URL);
skipped in the SQLite-only phases."""

import os
import re
import sqlite3
import tempfile

import pytest

import plinth

# Tables one engine has for its own machinery, not part of plinth's schema.
ENGINE_TABLES = {
    "sqlite": {
        "sqlite_sequence",   # AUTOINCREMENT counters
        "sqlite_stat1",      # ANALYZE statistics
        "sqlite_stat4",
    },
    "postgres": set(),
}
# SQLite full-text search (FTS5) keeps its index in shadow tables named after the
# virtual table (<name>_data, _idx, _content, _docsize, _config); PostgreSQL keeps a
# tsvector column instead. Virtual tables and their shadow tables are left out.
FTS_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")


def sqlite_type(declared):
    """The common type of a SQLite column, by SQLite's type affinity rules."""
    t = declared.upper()
    if "INT" in t:
        return "integer"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if t == "" or "BLOB" in t:
        return "blob"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


PG_TYPES = {
    "smallint": "integer", "integer": "integer", "bigint": "integer",
    # SQLite has no boolean: its migrations store booleans as INTEGER 0/1.
    "boolean": "integer",
    "text": "text", "character varying": "text", "character": "text", "uuid": "text",
    "json": "text", "jsonb": "text", "citext": "text", "tsvector": "text",
    "real": "real", "double precision": "real",
    "numeric": "numeric",
    "bytea": "blob",
}


def sqlite_schema(path):
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
        virtual = {name for name, sql in rows
                   if sql and re.match(r"\s*CREATE\s+VIRTUAL\s+TABLE", sql, re.I)}
        schema = {}
        for name, _ in rows:
            if name in ENGINE_TABLES["sqlite"] or name in virtual:
                continue
            if any(name == v + s for v in virtual for s in FTS_SHADOW_SUFFIXES):
                continue
            cols = con.execute('SELECT name, type FROM pragma_table_info(?)', (name,))
            schema[name] = {c: sqlite_type(t) for c, t in cols}
        return schema
    finally:
        con.close()


def pg_schema(url):
    out = plinth.psql(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " ORDER BY 1, c.ordinal_position", url=url)
    schema = {}
    for line in out.splitlines():
        if not line.strip():
            continue
        table, column, data_type = line.split("|")
        if table in ENGINE_TABLES["postgres"]:
            continue
        schema.setdefault(table, {})[column] = PG_TYPES.get(data_type, "unknown:" + data_type)
    return schema


def describe_differences(lite, pg):
    problems = []
    for t in sorted(set(lite) - set(pg)):
        problems.append("table %s exists only on SQLite" % t)
    for t in sorted(set(pg) - set(lite)):
        problems.append("table %s exists only on PostgreSQL" % t)
    for t in sorted(set(lite) & set(pg)):
        for c in sorted(set(lite[t]) - set(pg[t])):
            problems.append("column %s.%s exists only on SQLite" % (t, c))
        for c in sorted(set(pg[t]) - set(lite[t])):
            problems.append("column %s.%s exists only on PostgreSQL" % (t, c))
        for c in sorted(set(lite[t]) & set(pg[t])):
            if lite[t][c] != pg[t][c]:
                problems.append("column %s.%s is %s on SQLite, %s on PostgreSQL"
                                % (t, c, lite[t][c], pg[t][c]))
    return problems


@pytest.mark.skipif(plinth.engine() != "postgres",
                    reason="needs PostgreSQL (the api-postgres phase)")
def test_migrations_give_both_engines_the_same_schema():
    with tempfile.TemporaryDirectory(prefix="plinth-parity-") as tmp:
        data = os.path.join(tmp, "data")
        p = plinth.run_cli(["migrate", "--data", data], timeout=60)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        lite = sqlite_schema(os.path.join(data, "plinth.db"))

        name, url = plinth.create_database()
        try:
            p = plinth.run_cli(["migrate", "--data", os.path.join(tmp, "pg-data")],
                               env={"PLINTH_DATABASE_URL": url}, timeout=60)
            assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
            pg = pg_schema(url)
        finally:
            plinth.drop_database(name)

    assert "schema_migrations" in lite and "users" in lite, sorted(lite)
    problems = describe_differences(lite, pg)
    assert not problems, "the engines' schemas differ after plinth migrate:\n  " + \
        "\n  ".join(problems)
