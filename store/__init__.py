"""PostgreSQL / TimescaleDB: schema, migrations and queries (psycopg 3).

One module per kind of record: :mod:`store.fixes`, :mod:`store.alerts`, :mod:`store.quarantine`,
:mod:`store.registry`; :mod:`store.database` connects and migrates.
"""
