"""Alembic environment: runs migrations on the connection handed over by ``migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from gifting.warehouse.schema import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    # Command-line use: ``alembic -x url=sqlite:///... upgrade head``.
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    with create_engine(url).begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata)
    context.run_migrations()
