"""Digest delivery: plain text through SNS (email subscriptions), HTML through SES v2."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SNS_SUBJECT_LIMIT = 100


class SnsDigestNotifier:
    """Publishes the text digest to a topic; SNS emails every confirmed subscriber."""

    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns = sns
        self.topic_arn = topic_arn

    def publish(self, subject: str, message: str) -> str:
        # SNS subjects: ASCII-printable-ish, no line breaks, at most 100 characters.
        clean_subject = " ".join(subject.split())[:SNS_SUBJECT_LIMIT]
        response = self.sns.publish(TopicArn=self.topic_arn, Subject=clean_subject, Message=message)
        return str(response["MessageId"])


class SesHtmlMailer:
    """Sends the HTML digest (with its text alternative) from a verified SES identity."""

    def __init__(self, sesv2: Any, sender: str, recipients: Sequence[str]) -> None:
        if not recipients:
            raise ValueError("SES digest needs at least one recipient (context digest_emails)")
        self.sesv2 = sesv2
        self.sender = sender
        self.recipients = list(recipients)

    def send(self, subject: str, html: str, text: str) -> str:
        response = self.sesv2.send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": self.recipients},
            Content={
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
                }
            },
        )
        return str(response["MessageId"])
