"""Local Rekognition Video content moderation: StartContentModeration and GetContentModeration as AWS answers them.

A start reads the video from (moto's) S3, checks the limits AWS checks up front (object exists, size, duration,
concurrent jobs, requests per second, client token reuse), and queues the analysis on a worker pool; the job stays
IN_PROGRESS until a worker has decoded, sampled and classified it, then the job's SNS topic gets the exact
completion message Rekognition publishes. GetContentModeration pages through the results with AWS's sort orders,
aggregations and an opaque, signed NextToken.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from functions.common.models import MAX_VIDEO_SECONDS
from sandbox.protocol import ClientFactory, PageTokens, RequestContext, ServiceError
from sandbox.rekognition import video
from sandbox.rekognition.classifier import FrameClassifier
from sandbox.rekognition.video import Analysis, UnsupportedVideo, VideoProbe

ProbeFunction = Callable[[Path], VideoProbe]
AnalyzeFunction = Callable[[Path, FrameClassifier, float], Analysis]

logger = logging.getLogger(__name__)

START = "StartContentModeration"
GET = "GetContentModeration"
MODERATION_MODEL_VERSION = "7.0"
DEFAULT_MIN_CONFIDENCE = 50.0
MAX_RESULTS = 1000  # AWS: "If you specify a value greater than 1000, a maximum of 1000 results is returned."
TOKEN_LIFETIME_SECONDS = 24 * 3600
ANALYSIS_FAILED = "Internal error while analyzing the video."
SHUTTING_DOWN = "The local Rekognition service is shutting down."
SERVICE_PRINCIPAL = "service:rekognition"  # see RequestContext.principal
_DOWNLOAD_CHUNK = 1024 * 1024
# A sample of the same label this many sampling intervals after the previous one continues its segment:
# the next sample (1 interval later, give or take rounding to whole milliseconds and frame times) does,
# a sample two intervals later (one sample without the label in between) starts a new segment.
_SEGMENT_GAP_INTERVALS = 1.5

_INVALID_S3_OBJECT = "Unable to get object metadata from S3. Check object key, region and/or access permissions."
_TOO_LARGE = (
    "The file size or duration of the supplied media is too large. The maximum file size is {size} and the "
    "maximum duration is {duration}."
)
_THROUGHPUT = "Provisioned rate exceeded."
_MISMATCH = (
    "ClientRequestToken {token} was already used with different parameters "
    "(Video, MinConfidence, NotificationChannel or JobTag)."
)


@dataclass(frozen=True)
class RekognitionSettings:
    """The limits and sampling of the local Rekognition Video service (AWS's defaults unless a test shrinks them)."""

    max_concurrent_jobs: int = 20  # AWS default for stored-video jobs
    transactions_per_second: float | None = None  # None = no throttling; else a token bucket per operation
    max_video_bytes: int = 10 * 1024**3
    max_video_seconds: float = MAX_VIDEO_SECONDS
    frames_per_second: float = 2.0
    analysis_workers: int = 1  # threads analysing videos; jobs beyond that wait, still IN_PROGRESS


@dataclass(frozen=True)
class ServiceStats:
    """Job counters, so tests and the CLI can check the concurrency limit held ("never more than N at once")."""

    jobs_started: int
    in_progress: int
    max_in_progress_seen: int


@dataclass(frozen=True)
class StartedJob:
    """One job this service started: when (its clock), its id, and the exact object version it moderates."""

    started_at: float
    job_id: str
    bucket: str
    key: str
    version: str | None


@dataclass(frozen=True)
class _Parameters:
    """What a start asked for; a reused ClientRequestToken must come with exactly these again."""

    bucket: str
    name: str
    version: str | None
    min_confidence: float
    topic_arn: str | None
    role_arn: str | None
    job_tag: str | None

    def video(self) -> dict[str, Any]:
        s3_object = {"Bucket": self.bucket, "Name": self.name}
        if self.version is not None:
            s3_object["Version"] = self.version
        return {"S3Object": s3_object}


@dataclass(frozen=True)
class _Detection:
    """One moderation label at one time (TIMESTAMPS) or over one stretch of time (SEGMENTS)."""

    name: str
    parent_name: str
    taxonomy_level: int
    confidence: float
    timestamp_ms: int
    end_ms: int | None = None  # set for segments only

    def wire(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Timestamp": self.timestamp_ms,
            "ModerationLabel": {
                "Confidence": self.confidence,
                "Name": self.name,
                "ParentName": self.parent_name,
                "TaxonomyLevel": self.taxonomy_level,
            },
        }
        if self.end_ms is not None:
            entry["StartTimestampMillis"] = self.timestamp_ms
            entry["EndTimestampMillis"] = self.end_ms
            entry["DurationMillis"] = self.end_ms - self.timestamp_ms
        entry["ContentTypes"] = []
        return entry


@dataclass
class _Job:
    """One content-moderation job; mutable fields change only under the service lock."""

    job_id: str
    region: str
    parameters: _Parameters
    context: RequestContext
    frames_per_second: float
    path: Path  # the downloaded video, deleted once analysed
    probe: VideoProbe | None
    probe_failure: str | None  # the StatusMessage to fail with when the video could not even be probed
    status: str = "IN_PROGRESS"
    status_message: str | None = None
    detections: dict[str, tuple[_Detection, ...]] = field(default_factory=dict)  # by AggregateBy
    sorted_pages: dict[tuple[str, str], tuple[_Detection, ...]] = field(default_factory=dict)


@dataclass
class _Claim:
    """A ClientRequestToken in use: its parameters, and the job id once the start that claimed it succeeded."""

    parameters: _Parameters
    done: threading.Event = field(default_factory=threading.Event)
    job_id: str | None = None


class _TokenBucket:
    """AWS-style rate limit: `rate` requests per second with bursts up to max(1, rate); not thread-safe itself."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RekognitionService:
    """Rekognition Video content moderation on this machine: AWS's API semantics over a local frame classifier."""

    service_name = "rekognition"

    def __init__(
        self,
        clients: ClientFactory,
        classifier: FrameClassifier,
        work_dir: Path,
        settings: RekognitionSettings = RekognitionSettings(),
        *,
        probe: ProbeFunction = video.probe,
        analyze: AnalyzeFunction = video.analyze,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clients = clients
        self._classifier = classifier
        self._settings = settings
        self._probe = probe
        self._analyze = analyze
        self._clock = clock
        work_dir.mkdir(parents=True, exist_ok=True)
        self._downloads = Path(tempfile.mkdtemp(prefix="videos-", dir=work_dir))
        self._page_tokens = PageTokens(clock, TOKEN_LIFETIME_SECONDS)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._claims: dict[tuple[str, str], _Claim] = {}  # (region, ClientRequestToken)
        self._buckets: dict[str, _TokenBucket] = {}
        self._reserved = 0  # starts past the limit check that are still reading the video
        self._in_progress = 0
        self._pending_work = 0  # jobs whose worker has not finished (analysis and notification)
        self._started = 0
        self._max_in_progress = 0
        self._started_jobs: list[StartedJob] = []
        self._closed = False
        self._workers = ThreadPoolExecutor(max_workers=settings.analysis_workers, thread_name_prefix="rekognition")

    def operations(self) -> frozenset[str]:
        """The Rekognition operations answered here; the endpoint sends nothing else to this service."""
        return frozenset({START, GET})

    def handle(self, operation: str, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        """Answer one validated request (thread-safe), or raise ServiceError as AWS would."""
        if self._closed:
            raise ServiceError("InternalServerError", SHUTTING_DOWN, status=500)
        self._throttle(operation)
        if operation == START:
            return self._start(request, context)
        if operation == GET:
            return self._get(request, context)
        raise ServiceError("UnknownOperationException", f"Unknown operation {operation}")

    def close(self) -> None:
        """Stop taking work, drop queued analyses, delete downloaded videos (a running analysis is not waited for)."""
        with self._lock:
            self._closed = True
        self._workers.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self._downloads, ignore_errors=True)

    def wait_until_idle(self, timeout: float) -> bool:
        """True once no job is IN_PROGRESS and every completion notice is sent; False if `timeout` passes first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._in_progress == 0 and self._pending_work == 0 and self._reserved == 0, timeout
            )

    @property
    def stats(self) -> ServiceStats:
        """A consistent snapshot of the job counters."""
        with self._lock:
            return ServiceStats(self._started, self._in_progress, self._max_in_progress)

    def started_jobs(self) -> list[StartedJob]:
        """Every job started so far, in the order they started (tests check order and "one job per video")."""
        with self._lock:
            return list(self._started_jobs)

    # StartContentModeration

    def _start(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        parameters = _parameters(request)
        token = request.get("ClientRequestToken")
        key = (context.region, token) if token else None
        while True:
            claim, pending = self._claim(key, parameters, token)
            if claim.job_id is not None:
                return {"JobId": claim.job_id}
            if pending:  # the same start is still reading its video on another thread: answer what it answers
                claim.done.wait()
                continue
            break
        job_id = secrets.token_hex(32)
        try:
            job = self._prepare(job_id, parameters, context)
        except BaseException:
            with self._changed:
                self._reserved -= 1
                if key is not None:
                    del self._claims[key]
                self._changed.notify_all()
            claim.done.set()
            raise
        with self._changed:
            self._reserved -= 1
            self._jobs[job_id] = job
            self._in_progress += 1
            self._pending_work += 1
            self._started += 1
            self._max_in_progress = max(self._max_in_progress, self._in_progress)
            self._started_jobs.append(
                StartedJob(self._clock(), job_id, parameters.bucket, parameters.name, parameters.version)
            )
            claim.job_id = job_id
        claim.done.set()
        try:
            future = self._workers.submit(self._run, job)
        except RuntimeError:  # closed meanwhile: the job will never run
            self._abandon(job)
        else:
            future.add_done_callback(lambda done: self._abandon(job) if done.cancelled() else None)
        logger.info("job %s started for s3://%s/%s", job_id, parameters.bucket, parameters.name)
        return {"JobId": job_id}

    def _claim(self, key: tuple[str, str] | None, parameters: _Parameters, token: str | None) -> tuple[_Claim, bool]:
        """The token's existing claim (and whether its start is still running), or a new claim with a job slot."""
        with self._lock:
            if key is not None:
                claim = self._claims.get(key)
                if claim is not None:
                    if claim.parameters != parameters:
                        raise ServiceError("IdempotentParameterMismatchException", _MISMATCH.format(token=token))
                    return claim, claim.job_id is None
            if self._in_progress + self._reserved >= self._settings.max_concurrent_jobs:
                raise ServiceError(
                    "LimitExceededException",
                    f"Too many concurrent jobs: {self._settings.max_concurrent_jobs} are in progress. "
                    "Start this one when one of them has finished.",
                )
            self._reserved += 1
            claim = _Claim(parameters)
            if key is not None:
                self._claims[key] = claim
            return claim, False

    def _prepare(self, job_id: str, parameters: _Parameters, context: RequestContext) -> _Job:
        """Everything AWS checks before it answers a start: topic, object, size; then the download and its probe."""
        if parameters.topic_arn is not None:
            self._check_topic(parameters.topic_arn, context)
        s3 = self._clients("s3", context)
        version = {"VersionId": parameters.version} if parameters.version is not None else {}
        size = self._object_size(s3, parameters, version)
        if size > self._settings.max_video_bytes:
            raise self._too_large()
        suffix = re.sub(r"[^A-Za-z0-9.]", "", PurePosixPath(parameters.name).suffix)[:16]
        path = self._downloads / f"{job_id}{suffix}"  # the key's extension, for tools that look at it
        try:
            self._download(s3, parameters, version, path)
            probe, failure = self._probe_video(job_id, parameters, path)
            if probe is not None and probe.duration_ms > self._settings.max_video_seconds * 1000:
                raise self._too_large()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _Job(job_id, context.region, parameters, context, self._settings.frames_per_second, path, probe, failure)

    def _check_topic(self, topic_arn: str, context: RequestContext) -> None:
        """Stricter than AWS, on purpose: a typo in the topic fails the start instead of losing the notice."""
        try:
            # Our own check (AWS makes none): the service's bookkeeping, needing no caller or role permission.
            sns = self._clients("sns", _in_region(context, topic_arn).acting_as(SERVICE_PRINCIPAL))
            sns.get_topic_attributes(TopicArn=topic_arn)
        except ClientError as error:
            if _status(error) >= 500:
                raise
            raise ServiceError(
                "InvalidParameterException",
                f"NotificationChannel.SNSTopicArn {topic_arn} is not an SNS topic here "
                f"({error.response['Error'].get('Code')}); create it before starting the job.",
            ) from error

    def _object_size(self, s3: Any, parameters: _Parameters, version: dict[str, str]) -> int:
        try:
            head = s3.head_object(Bucket=parameters.bucket, Key=parameters.name, **version)
        except ClientError as error:
            raise _s3_problem(error) from error
        return int(head["ContentLength"])

    def _download(self, s3: Any, parameters: _Parameters, version: dict[str, str], path: Path) -> None:
        """Copy the object to `path`; stop once it outgrows the size limit (it may have changed since the HEAD)."""
        try:
            body = s3.get_object(Bucket=parameters.bucket, Key=parameters.name, **version)["Body"]
        except ClientError as error:
            raise _s3_problem(error) from error
        written = 0
        with body, path.open("wb") as file:
            for chunk in iter(lambda: body.read(_DOWNLOAD_CHUNK), b""):
                written += len(chunk)
                if written > self._settings.max_video_bytes:
                    raise self._too_large()
                file.write(chunk)

    def _probe_video(self, job_id: str, parameters: _Parameters, path: Path) -> tuple[VideoProbe | None, str | None]:
        """The video's header, or the StatusMessage its job will fail with (AWS accepts such a start, then fails it)."""
        try:
            return self._probe(path), None
        except UnsupportedVideo as error:
            logger.info(
                "job %s: s3://%s/%s is not a supported video: %s", job_id, parameters.bucket, parameters.name, error
            )
            return None, UnsupportedVideo.STATUS_MESSAGE
        except Exception:
            logger.exception("job %s: probing s3://%s/%s failed", job_id, parameters.bucket, parameters.name)
            return None, ANALYSIS_FAILED

    def _too_large(self) -> ServiceError:
        size = _human_bytes(self._settings.max_video_bytes)
        hours = self._settings.max_video_seconds / 3600
        duration = f"{hours:g} hours" if hours >= 1 else f"{self._settings.max_video_seconds:g} seconds"
        return ServiceError("VideoTooLargeException", _TOO_LARGE.format(size=size, duration=duration))

    def _throttle(self, operation: str) -> None:
        rate = self._settings.transactions_per_second
        if rate is None:
            return
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                bucket = self._buckets[operation] = _TokenBucket(rate, now)
            allowed = bucket.take(now)
        if not allowed:
            raise ServiceError("ProvisionedThroughputExceededException", _THROUGHPUT)

    # The worker

    def _run(self, job: _Job) -> None:
        """Analyse one job's video on a worker thread, record the outcome, then notify its SNS topic."""
        try:
            try:
                outcome = self._analysis(job)
            finally:
                job.path.unlink(missing_ok=True)
            if isinstance(outcome, str):
                self._finish(job, "FAILED", outcome, {})
            else:
                timestamps = _timestamp_detections(outcome, job.parameters.min_confidence)
                segments = _segments(timestamps, _sampling_interval_ms(job, outcome.probe), outcome.probe.duration_ms)
                self._finish(job, "SUCCEEDED", None, {"TIMESTAMPS": timestamps, "SEGMENTS": segments}, outcome.probe)
            if job.parameters.topic_arn is not None:
                self._notify(job)
        except Exception:  # a bug here must not leave the job IN_PROGRESS for ever
            logger.exception("job %s: recording the outcome failed", job.job_id)
            self._finish(job, "FAILED", ANALYSIS_FAILED, {})
        finally:
            self._work_done()

    def _analysis(self, job: _Job) -> Analysis | str:
        """The video's analysis, or the StatusMessage its job fails with."""
        if job.probe_failure is not None:
            return job.probe_failure
        where = f"s3://{job.parameters.bucket}/{job.parameters.name}"
        try:
            return self._analyze(job.path, self._classifier, job.frames_per_second)
        except UnsupportedVideo as error:
            logger.info("job %s: %s cannot be decoded: %s", job.job_id, where, error)
            return UnsupportedVideo.STATUS_MESSAGE
        except Exception:
            logger.exception("job %s: analysing %s failed", job.job_id, where)
            return ANALYSIS_FAILED

    def _finish(
        self,
        job: _Job,
        status: str,
        message: str | None,
        detections: dict[str, tuple[_Detection, ...]],
        probe: VideoProbe | None = None,
    ) -> None:
        with self._changed:
            if job.status != "IN_PROGRESS":
                return
            job.status = status
            job.status_message = message
            job.detections = detections
            job.probe = probe or job.probe
            self._in_progress -= 1
            self._changed.notify_all()
        logger.info("job %s %s", job.job_id, status)

    def _abandon(self, job: _Job) -> None:
        """Fail a job that will never run (the service closed first), so it stops counting as in progress."""
        self._finish(job, "FAILED", SHUTTING_DOWN, {})
        self._work_done()

    def _work_done(self) -> None:
        with self._changed:
            self._pending_work -= 1
            self._changed.notify_all()

    def _notify(self, job: _Job) -> None:
        """Publish Rekognition's completion message; a failure is logged, the job keeps its outcome."""
        topic_arn = job.parameters.topic_arn
        assert topic_arn is not None
        try:
            sns = self._clients("sns", _as_role(_in_region(job.context, topic_arn), job.parameters.role_arn))
            sns.publish(
                TopicArn=topic_arn, Message=json.dumps(_completion_message(job, self._clock()), separators=(",", ":"))
            )
        except Exception:
            logger.exception("job %s: publishing its completion to %s failed", job.job_id, topic_arn)

    # GetContentModeration

    def _get(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        job_id = request["JobId"]
        sort_by = request.get("SortBy", "TIMESTAMP")
        aggregate_by = request.get("AggregateBy", "TIMESTAMPS")
        max_results = min(int(request.get("MaxResults", MAX_RESULTS)), MAX_RESULTS)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.region != context.region:
                raise ServiceError(
                    "ResourceNotFoundException", "The resource specified in the request cannot be found."
                )
            status, message, probe = job.status, job.status_message, job.probe
        offset = 0
        if "NextToken" in request:
            offset = self._read_token(request["NextToken"], job_id, sort_by, aggregate_by)
        response: dict[str, Any] = {"JobStatus": status}
        if status == "FAILED" and message is not None:
            response["StatusMessage"] = message
        if probe is not None:
            response["VideoMetadata"] = probe.video_metadata()
        labels: list[dict[str, Any]] = []
        next_token = None
        if status == "SUCCEEDED":
            ordered = self._sorted(job, sort_by, aggregate_by)
            labels = [detection.wire() for detection in ordered[offset : offset + max_results]]
            if offset + max_results < len(ordered):
                next_token = self._page_tokens.make(_token_scope(job_id, sort_by, aggregate_by), offset + max_results)
        response["ModerationLabels"] = labels
        if next_token is not None:
            response["NextToken"] = next_token
        response["ModerationModelVersion"] = MODERATION_MODEL_VERSION
        response["JobId"] = job_id
        response["Video"] = job.parameters.video()
        if job.parameters.job_tag is not None:
            response["JobTag"] = job.parameters.job_tag
        response["GetRequestMetadata"] = {"SortBy": sort_by, "AggregateBy": aggregate_by}
        return response

    def _sorted(self, job: _Job, sort_by: str, aggregate_by: str) -> tuple[_Detection, ...]:
        """A finished job's detections in the requested order, sorted once per order (pages slice the same tuple)."""
        with self._lock:
            cached = job.sorted_pages.get((sort_by, aggregate_by))
            detections = job.detections.get(aggregate_by, ())
        if cached is not None:
            return cached
        ordered = tuple(sorted(detections, key=_timestamp_order if sort_by == "TIMESTAMP" else _name_order))
        with self._lock:
            return job.sorted_pages.setdefault((sort_by, aggregate_by), ordered)

    def _read_token(self, token: str, job_id: str, sort_by: str, aggregate_by: str) -> int:
        """The offset a NextToken points at, if made here for this job, sort and aggregation in the last 24 h."""
        offset = self._page_tokens.read(token, _token_scope(job_id, sort_by, aggregate_by))
        if offset is None:
            raise ServiceError("InvalidPaginationTokenException", "Invalid Token")
        return offset


def _completion_message(job: _Job, now: float) -> dict[str, Any]:
    """The message Rekognition publishes to the job's SNS topic when the job ends (its JSON is the SNS Message)."""
    message: dict[str, Any] = {"JobId": job.job_id, "Status": job.status, "API": START}
    if job.parameters.job_tag is not None:
        message["JobTag"] = job.parameters.job_tag
    message["Timestamp"] = int(now * 1000)
    message["Video"] = {"S3ObjectName": job.parameters.name, "S3Bucket": job.parameters.bucket}
    return message


def _parameters(request: dict[str, Any]) -> _Parameters:
    s3_object = (request.get("Video") or {}).get("S3Object")
    if not s3_object:
        raise ServiceError("InvalidParameterException", "Video.S3Object is required: the video must be in Amazon S3.")
    if not s3_object.get("Bucket") or not s3_object.get("Name"):
        raise ServiceError("InvalidS3ObjectException", _INVALID_S3_OBJECT)
    channel = request.get("NotificationChannel") or {}
    return _Parameters(
        bucket=s3_object["Bucket"],
        name=s3_object["Name"],
        version=s3_object.get("Version"),
        min_confidence=float(request.get("MinConfidence", DEFAULT_MIN_CONFIDENCE)),
        topic_arn=channel.get("SNSTopicArn"),
        role_arn=channel.get("RoleArn"),
        job_tag=request.get("JobTag"),
    )


def _sampling_interval_ms(job: _Job, probe: VideoProbe) -> float:
    """Time between samples: 1/frames_per_second, or one frame when the video has fewer frames than that."""
    interval = 1000.0 / job.frames_per_second
    if probe.frame_rate > 0:
        interval = max(interval, 1000.0 / probe.frame_rate)
    return interval


def _timestamp_detections(analysis: Analysis, min_confidence: float) -> tuple[_Detection, ...]:
    """One detection per (frame, label) at or above the job's MinConfidence; a label twice in a frame keeps its best."""
    best: dict[tuple[int, str], _Detection] = {}
    for frame in analysis.frames:
        for label in frame.labels:
            if label.confidence < min_confidence:
                continue
            detection = _Detection(
                label.name, label.parent_name, label.taxonomy_level, float(label.confidence), int(frame.timestamp_ms)
            )
            key = (detection.timestamp_ms, detection.name)
            if key not in best or best[key].confidence < detection.confidence:
                best[key] = detection
    return tuple(sorted(best.values(), key=_timestamp_order))


def _segments(detections: tuple[_Detection, ...], interval_ms: float, duration_ms: int) -> tuple[_Detection, ...]:
    """Runs of consecutive samples of a label as one detection each.

    A segment starts at its first sample and ends where its last sample's interval ends (timestamp + one sampling
    interval, capped at the video's duration): the label was seen for the whole time that sample stands for.
    Its confidence is the highest in the run.
    """
    by_label: dict[str, list[_Detection]] = {}
    for detection in sorted(detections, key=_timestamp_order):
        by_label.setdefault(detection.name, []).append(detection)
    segments: list[_Detection] = []
    for samples in by_label.values():
        for run in _runs(samples, interval_ms * _SEGMENT_GAP_INTERVALS):
            first, last = run[0], run[-1]
            end = round(last.timestamp_ms + interval_ms)
            if duration_ms > 0:
                end = min(end, duration_ms)
            segments.append(
                replace(
                    first,
                    confidence=max(sample.confidence for sample in run),
                    end_ms=max(end, first.timestamp_ms),
                )
            )
    return tuple(segments)


def _runs(samples: list[_Detection], max_gap_ms: float) -> Iterator[list[_Detection]]:
    run = [samples[0]]
    for sample in samples[1:]:
        if sample.timestamp_ms - run[-1].timestamp_ms > max_gap_ms:
            yield run
            run = []
        run.append(sample)
    yield run


def _timestamp_order(detection: _Detection) -> tuple[int, str]:
    return detection.timestamp_ms, detection.name


def _name_order(detection: _Detection) -> tuple[str, float, int]:
    # AWS: "Use NAME to alphabetically group elements for a label together. Within each label group, the array
    # element are sorted by detection confidence." Highest first; time breaks ties so pages are stable.
    return detection.name, -detection.confidence, detection.timestamp_ms


def _token_scope(job_id: str, sort_by: str, aggregate_by: str) -> str:
    return f"{job_id}\n{sort_by}\n{aggregate_by}"


def _in_region(context: RequestContext, arn: str) -> RequestContext:
    """The caller's context moved to the region an ARN names (arn:aws:sns:REGION:ACCOUNT:NAME)."""
    parts = arn.split(":")
    return replace(context, region=parts[3]) if len(parts) > 3 and parts[3] else context


def _as_role(context: RequestContext, role_arn: str | None) -> RequestContext:
    """Rekognition publishes completions with the role NotificationChannel names, not as the caller."""
    return context.acting_as(f"role:{role_arn}") if role_arn else context


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _s3_problem(error: ClientError) -> Exception:
    """A missing bucket, key or version (or no access) is AWS's InvalidS3ObjectException; S3 outages stay errors."""
    if _status(error) >= 500:
        return RuntimeError(f"S3 failed: {error}")
    return ServiceError("InvalidS3ObjectException", _INVALID_S3_OBJECT)


def _human_bytes(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:g}{unit}"
    return f"{size} bytes"
