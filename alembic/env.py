"""Alembic environment: same database resolver as the app, autogenerate limited to the
schemas Alembic owns (raw, reco) so that it never proposes touching dbt's tables."""

from alembic import context
from sqlalchemy import Connection

from reco.db.engine import make_engine
from reco.db.models import Base, include_name
from reco.db.resolver import resolve

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_schemas=True,
        include_name=include_name,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    db = resolve(context.get_x_argument(as_dictionary=True).get("database_url"), start=False)
    _configure(url=db.url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # Everything, schema creation included, happens inside begin_transaction(): SQL issued on
    # the connection before it is left uncommitted.
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:  # reco.db.migrate passes its own connection
        _run(given)
        return
    db = resolve(context.get_x_argument(as_dictionary=True).get("database_url"))
    engine = make_engine(db)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
