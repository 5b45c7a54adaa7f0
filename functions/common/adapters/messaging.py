"""SQS and EventBridge adapters: the messages and events modlake sends itself."""

from __future__ import annotations

import json
from typing import Any

from functions.common.ports import MAX_DELAY_SECONDS


class SqsWorkQueue:
    """Sends JSON messages to one queue, optionally delayed."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, body: dict[str, Any], delay_seconds: int = 0) -> None:
        delay = max(0, min(MAX_DELAY_SECONDS, int(delay_seconds)))
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body), DelaySeconds=delay)


class EventBridgePublisher:
    """Puts "Video Moderated" events on an event bus for alerting integrations."""

    DETAIL_TYPE = "Video Moderated"

    def __init__(self, events: Any, bus_name: str, source: str) -> None:
        self.events = events
        self.bus_name = bus_name
        self.source = source

    def video_moderated(self, detail: dict[str, Any]) -> None:
        response = self.events.put_events(
            Entries=[
                {
                    "Source": self.source,
                    "DetailType": self.DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.bus_name,
                    "Resources": [],
                }
            ]
        )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise RuntimeError(f"EventBridge refused the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")
