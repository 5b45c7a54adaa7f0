"""The lake's Parquet uses a codec the AWS SDK for pandas layer's Arrow was built with (Snappy and Zlib only)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from functions.common import lake
from stacks.lambda_runtime import lambda_runtime


def test_the_writers_codec_is_one_the_layers_arrow_has() -> None:
    # Given a table written by the lake's Parquet encoder
    table = pa.table({"video_id": ["v1", "v2"], "confidence": [91.5, 12.0]})
    encoded = lake.parquet_bytes(table)
    # When its column chunks are read back
    metadata = pq.ParquetFile(io.BytesIO(encoded)).metadata
    codecs = {
        metadata.row_group(group).column(column).compression.lower()
        for group in range(metadata.num_row_groups)
        for column in range(metadata.num_columns)
    }
    # Then every chunk is compressed with a codec the layer's Arrow can read and write (a zstd or lz4 writer
    # would pass on PyPI's pyarrow and fail in Lambda)
    assert codecs <= set(lambda_runtime().arrow_codecs)
    assert codecs == {"snappy"}
