"""Collector benchmark: a stubbed job with N detections against moto, our writes vs one item per label.

Prints one JSON object per line: the collector's call counts and wall time, an ablation (one item per
label, batched 25 per request), the naive baseline (one PutItem per label) and speedup_vs_naive.

By default moto runs as a server in its own process and the clients talk HTTP to it on loopback, as
Lambda talks to AWS: every request pays a real round trip. `--transport inprocess` uses moto's
in-process mock instead, where a request costs almost nothing and per-attribute work dominates.
Run with `make bench` (or `python -m bench.collector --detections 100000`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import boto3
from moto import mock_aws

from functions.collect_results.logic import CollectDeps, CollectOutcome, handle
from functions.common.adapters.dynamodb import DynamoVideoStore, label_chunk_item
from functions.common.adapters.messaging import EventBridgePublisher, SqsWorkQueue
from functions.common.adapters.rekognition import RekognitionModeration
from functions.common.adapters.s3 import S3LakeObjects
from functions.common.flagging import FlagPolicy
from functions.common.lake import LakeWriter
from functions.common.models import Detection, JobNotification, VideoRef, utc_now
from functions.common.table_design import LABELS_PER_ITEM, create_table_request

TABLE = "bench-videos"
LAKE = "bench-lake"
JOB_ID = "bench-job"
TAXONOMY = [
    ("Violence", "", 1),
    ("Graphic Violence", "Violence", 2),
    ("Blood & Gore", "Graphic Violence", 3),
    ("Alcohol", "", 1),
    ("Alcoholic Beverages", "Alcohol", 2),
    ("Explicit", "", 1),
]


class StubbedRekognition:
    """A finished job's GetContentModeration pages, built once and served from memory (counted)."""

    def __init__(self, detections: int, page_size: int = 1000) -> None:
        self.calls = 0
        self.pages: list[dict[str, Any]] = []
        for start in range(0, detections, page_size):
            labels = []
            for i in range(start, min(start + page_size, detections)):
                name, parent, level = TAXONOMY[i % len(TAXONOMY)]
                labels.append(
                    {
                        "Timestamp": i * 40,
                        "StartTimestampMillis": i * 40,
                        "EndTimestampMillis": i * 40 + 40,
                        "DurationMillis": 40,
                        "ModerationLabel": {
                            "Name": name,
                            "ParentName": parent,
                            "TaxonomyLevel": level,
                            "Confidence": 50.0 + (i % 50),
                        },
                        "ContentTypes": [{"Name": "Animated", "Confidence": 77.0}] if i % 10 == 0 else [],
                    }
                )
            self.pages.append(
                {
                    "JobStatus": "SUCCEEDED",
                    "ModerationLabels": labels,
                    "ModerationModelVersion": "7.0",
                    "VideoMetadata": {
                        "Codec": "h264",
                        "DurationMillis": detections * 40,
                        "Format": "QuickTime / MOV",
                        "FrameRate": 25.0,
                        "FrameWidth": 1920,
                        "FrameHeight": 1080,
                        "ColorRange": "LIMITED",
                    },
                }
            )
        for index, page in enumerate(self.pages[:-1]):
            page["NextToken"] = str(index + 1)

    def get_content_moderation(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return self.pages[int(kwargs.get("NextToken") or 0)]


def _single_label_item(video_id: str, detection: Detection) -> dict[str, Any]:
    item = label_chunk_item(video_id, [detection])
    item["sk"] = {"S": f"LABEL#{detection.index:09d}"}
    return item


class OneItemPerLabelWriter:
    """The naive baseline: PutItem for every label as it arrives (what earlier systems did)."""

    def __init__(self, store: DynamoVideoStore, video_id: str) -> None:
        self.store, self.video_id = store, video_id

    def add(self, page: Sequence[Detection]) -> None:
        for detection in page:
            self.store.dynamodb.put_item(TableName=self.store.table, Item=_single_label_item(self.video_id, detection))

    def flush(self) -> int:
        return 0


class BatchedItemPerLabelWriter(OneItemPerLabelWriter):
    """Ablation: one item per label, but 25 per BatchWriteItem (no chunking)."""

    def add(self, page: Sequence[Detection]) -> None:
        for start in range(0, len(page), 25):
            self.store.write_batch([_single_label_item(self.video_id, d) for d in page[start : start + 25]])


class OneItemPerLabelStore(DynamoVideoStore):
    def label_writer(self, video_id: str) -> Any:
        return OneItemPerLabelWriter(self, video_id)


class BatchedItemPerLabelStore(DynamoVideoStore):
    def label_writer(self, video_id: str) -> Any:
        return BatchedItemPerLabelWriter(self, video_id)


STORES: dict[str, type[DynamoVideoStore]] = {
    "collector": DynamoVideoStore,
    "collector_batched_one_item_per_label": BatchedItemPerLabelStore,
    "collector_naive_one_item_per_label": OneItemPerLabelStore,
}


def count_calls(*clients: Any) -> Counter[str]:
    """Count API calls per service operation through botocore's event hooks."""
    counter: Counter[str] = Counter()
    for client in clients:
        service = client.meta.service_model.service_name

        def record(model: Any, service: str = service, **_: Any) -> None:
            counter[f"{service}:{model.name}"] += 1

        client.meta.events.register("before-call.*.*", record)
    return counter


_SERVER = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
sys.stdin.read()  # run until the benchmark closes our stdin
"""


@contextlib.contextmanager
def moto_endpoint(transport: str) -> Any:
    """Fresh moto state: a loopback moto server in a child process (http) or the in-process mock."""
    if transport == "inprocess":
        with mock_aws():
            yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(detections: int, variant: str, transport: str = "http") -> dict[str, Any]:
    """Collect one stubbed job against fresh moto resources; return counts and wall time."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with moto_endpoint(transport) as endpoint:
        region = "us-east-1"
        dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint)
        s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint)
        sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint)
        events = boto3.client("events", region_name=region, endpoint_url=endpoint)
        dynamodb.create_table(**create_table_request(TABLE))
        s3.create_bucket(Bucket=LAKE)
        queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
        store = STORES[variant](dynamodb, TABLE)
        rekognition = StubbedRekognition(detections)
        video = VideoRef("bench-media", "uploads/long video.mp4", "v1", "etag", size=10**9, uploaded_at=utc_now())
        store.mark_in_progress(video, JOB_ID, 50.0, utc_now())
        deps = CollectDeps(
            store=store,
            lake=LakeWriter(S3LakeObjects(s3, LAKE)),
            moderation=RekognitionModeration(rekognition),
            events=EventBridgePublisher(events, "default", "modlake"),
            start_queue=SqsWorkQueue(sqs, queue),
            collect_queue=SqsWorkQueue(sqs, queue),
            policy=FlagPolicy(),
        )
        calls = count_calls(dynamodb, s3)
        note = JobNotification(JOB_ID, "SUCCEEDED", "StartContentModeration", video.video_id, utc_now(), None, None)
        started = time.perf_counter()
        outcome = handle(note, deps, lambda: 900_000)
        seconds = time.perf_counter() - started
        assert outcome is CollectOutcome.SUCCEEDED, outcome
        stored = store.get(video.video_id)
        assert stored is not None and stored.summary is not None and stored.summary.label_count == detections
    label_writes = calls["dynamodb:PutItem"] + calls["dynamodb:BatchWriteItem"]
    return {
        "bench": variant,
        "transport": transport,
        "detections": detections,
        "get_content_moderation_calls": rekognition.calls,
        "dynamodb_label_write_requests": label_writes,
        "dynamodb_other_requests": sum(v for k, v in calls.items() if k.startswith("dynamodb:")) - label_writes,
        "s3_put_requests": calls["s3:PutObject"] + calls["s3:UploadPart"],
        "seconds": round(seconds, 2),
    }


def label_items(detections: int, page_size: int = 1000) -> int:
    """DynamoDB items the collector writes: each results page split into chunks of LABELS_PER_ITEM."""
    full_pages, rest = divmod(detections, page_size)
    return full_pages * math.ceil(page_size / LABELS_PER_ITEM) + math.ceil(rest / LABELS_PER_ITEM)


def main() -> None:
    """Run the collector, the ablation and the naive baseline on the same job and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--detections", type=int, default=int(os.environ.get("BENCH_DETECTIONS", 100_000)))
    parser.add_argument("--transport", choices=("http", "inprocess"), default=os.environ.get("BENCH_TRANSPORT", "http"))
    args = parser.parse_args()
    n, transport = args.detections, args.transport
    ours = run(n, "collector", transport)
    items = label_items(n)
    minimum = {
        "get_content_moderation_calls": math.ceil(n / 1000),
        "dynamodb_label_write_requests": math.ceil(items / 25),
        "s3_put_requests": 2,
    }
    at_minimum = (
        all(ours[k] <= v for k, v in minimum.items())
        and ours["get_content_moderation_calls"] == minimum["get_content_moderation_calls"]
    )
    print(json.dumps(ours | {"label_items": items, "minimum": minimum, "calls_at_minimum": at_minimum}), flush=True)
    ablation = run(n, "collector_batched_one_item_per_label", transport)
    print(json.dumps(ablation), flush=True)
    naive = run(n, "collector_naive_one_item_per_label", transport)
    print(json.dumps(naive), flush=True)
    speedup = naive["seconds"] / ours["seconds"]
    print(
        json.dumps(
            {
                "bench": "collector_speedup",
                "transport": transport,
                "detections": n,
                "speedup_vs_naive": round(speedup, 1),
                "batching_alone_speedup_vs_naive": round(naive["seconds"] / ablation["seconds"], 1),
                "target": 10,
                "meets_target": speedup >= 10 and at_minimum,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
