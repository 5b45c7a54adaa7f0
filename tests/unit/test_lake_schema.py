"""The one schema: Arrow types from Glue types, and Parquet written by the collector read back with it."""

from __future__ import annotations

import pyarrow as pa
import pytest

from functions.collect_results.logic import CollectOutcome
from functions.common.lake import read_parquet, table_from_rows
from glue import LABELS, TABLES, VIDEOS
from glue.arrow import arrow_schema, arrow_type
from tests.fakes import InMemoryObjects, collect_finished_job, fake_collect_deps
from tests.helpers import NOW, flagged_run, video


def test_glue_types_map_to_arrow() -> None:
    assert arrow_type("bigint") == pa.int64()
    assert arrow_type("array<string>") == pa.list_(pa.string())
    assert arrow_type("array<struct<name:string,confidence:double>>") == pa.list_(
        pa.struct([pa.field("name", pa.string()), pa.field("confidence", pa.float64())])
    )
    with pytest.raises(ValueError, match="no Arrow mapping"):
        arrow_type("decimal(10,2)")


def test_every_table_has_a_schema_without_the_partition_column() -> None:
    for spec in TABLES:
        schema = arrow_schema(spec)
        assert schema.names == list(spec.column_names)
        assert spec.partition_key.name not in schema.names
        assert len(set(schema.names)) == len(schema.names)


def test_rows_with_missing_or_extra_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="differ from the schema"):
        table_from_rows(VIDEOS, [{"video_id": "x"}])


def test_collector_parquet_round_trips_with_the_glue_schema() -> None:
    # Given the collector has written a job's objects
    lake = InMemoryObjects()
    deps = fake_collect_deps(lake)
    assert collect_finished_job(deps, video("a/b c.mp4"), "job-9", flagged_run(40), NOW) is CollectOutcome.SUCCEEDED
    # When each object is read back
    for spec in (LABELS, VIDEOS):
        [key] = lake.keys(spec.prefix)
        table = read_parquet(lake.get(key))
        # Then its schema is exactly the one derived from glue/
        assert table.schema.equals(arrow_schema(spec), check_metadata=False), spec.name
    labels = read_parquet(lake.get(lake.keys(LABELS.prefix)[0]))
    assert labels.num_rows == 40 and set(labels.column("object_key").to_pylist()) == {"a/b c.mp4"}
