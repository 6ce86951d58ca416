"""Test support for the Athena side: a fixture generator mirroring the S3 layouts, and a local DuckDB engine
that exposes the Glue tables declared in the template (see engine.py for what is emulated and how)."""

from __future__ import annotations

from pathlib import Path

from ..constants import PUBLIC_VIEWS, VIEW_ORDER
from ..render import view_sql  # the SELECT exactly as the AthenaViews custom resource receives it
from .catalog import TableDecl, bind_roles, glue_tables, template_with_glue_tables
from .engine import LocalAthena
from .fixtures import Fixture, FixtureSpec, Truth, generate

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"

__all__ = [
    "Fixture",
    "FixtureSpec",
    "LocalAthena",
    "PUBLIC_VIEWS",
    "SQL_DIR",
    "TableDecl",
    "Truth",
    "VIEW_ORDER",
    "generate",
    "open_engine",
    "view_sql",
]


def open_engine(
    fixture: Fixture,
    template: dict | None = None,
    workdir: Path | None = None,
    *,
    views: tuple[str, ...] = VIEW_ORDER,
    threads: int | None = None,
) -> LocalAthena:
    """Engine over a fixture: tables from `template` (default: committed template, else built in-process),
    Config partitions registered as the PartitioningFunction would, views created in order (a view reading
    another, like configmic reading config_latest_items, needs that one in `views` too, before it)."""
    if template is None:
        template, _ = template_with_glue_tables()
    spec = fixture.spec
    values = bind_roles(
        template,
        config_bucket=spec.config_bucket,
        datasync_bucket=spec.datasync_bucket,
        datasync_prefix=spec.datasync_prefix,
        account_ids=list(spec.projection_accounts),
        regions=list(spec.regions),
    )
    engine = LocalAthena(glue_tables(template, values), fixture.buckets, workdir, threads=threads)
    engine.register_config_snapshots()
    engine.build()
    for name in views:
        engine.create_view(name, view_sql(name))
    return engine
