"""`python -m sandbox serve`: the local AWS endpoint with our Rekognition Video and Athena, moto for the rest."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sandbox.athena.service import AthenaService
from sandbox.endpoint import DEFAULT_PORT, LOOPBACK, LocalEndpoint, default_work_dir
from sandbox.faults import SERVICES, FaultInjector, FaultPlan, FaultPlanError
from sandbox.rekognition.classifier import FrameClassifier, classifier_by_name
from sandbox.rekognition.service import RekognitionService, RekognitionSettings

CLASSIFIERS = ("nudenet", "palette")


@dataclass(frozen=True)
class EndpointSettings:
    """Everything that shapes a local endpoint: where it listens, the frame classifier and the service limits."""

    port: int = DEFAULT_PORT
    host: str = LOOPBACK
    classifier: str | FrameClassifier = "nudenet"  # a name, or a classifier (tests hold jobs with a gated one)
    rekognition: RekognitionSettings = field(default_factory=RekognitionSettings)
    work_dir: Path = field(default_factory=default_work_dir)
    check_responses: bool = False  # validate every local response against botocore's model (tests turn it on)
    faults: FaultPlan = field(default_factory=FaultPlan)  # which share of the callers' requests gets AWS's errors


def build_endpoint(settings: EndpointSettings) -> LocalEndpoint:
    """A bound (not yet serving) endpoint with the local Rekognition and Athena services registered."""
    endpoint = LocalEndpoint(
        settings.host, settings.port, check_responses=settings.check_responses, faults=FaultInjector(settings.faults)
    )
    work_dir = Path(settings.work_dir)
    endpoint.add(
        RekognitionService(
            endpoint.clients,
            classifier_by_name(settings.classifier) if isinstance(settings.classifier, str) else settings.classifier,
            work_dir / "rekognition",
            settings.rekognition,
        )
    )
    endpoint.add(AthenaService(endpoint.clients, work_dir / "athena"))
    return endpoint


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="modlake's offline AWS sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the local AWS endpoint on loopback until Ctrl-C")
    defaults = RekognitionSettings()
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    serve.add_argument(
        "--classifier",
        choices=CLASSIFIERS,
        default="nudenet",
        help="frame classifier: nudenet (the real model, default) or palette (deterministic, by frame colour)",
    )
    serve.add_argument(
        "--max-concurrent-jobs",
        type=int,
        default=defaults.max_concurrent_jobs,
        help=f"Rekognition jobs in progress before LimitExceededException (default {defaults.max_concurrent_jobs})",
    )
    serve.add_argument(
        "--tps",
        type=float,
        default=None,
        help="Rekognition requests per second per operation before ProvisionedThroughputExceededException (off)",
    )
    serve.add_argument(
        "--frames-per-second",
        type=float,
        default=defaults.frames_per_second,
        help=f"video frames classified per second of video (default {defaults.frames_per_second})",
    )
    serve.add_argument(
        "--faults",
        default="",
        metavar="SERVICE=RATE,…",
        help="give this share (0-1) of the requests to each service its own throttling or 5xx error "
        f"(services: {', '.join(SERVICES)}; e.g. dynamodb=0.2,s3=0.1; default: none)",
    )
    serve.add_argument("--fault-seed", type=int, default=0, help="seed of the fault decisions (default 0)")
    serve.add_argument("--work-dir", type=Path, default=default_work_dir(), help="downloads and query mirrors")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def settings_from_args(args: argparse.Namespace) -> EndpointSettings:
    """The endpoint settings a `serve` command line asks for (limits are checked here, before anything starts)."""
    if args.max_concurrent_jobs < 1:
        raise ValueError("--max-concurrent-jobs must be at least 1")
    if args.tps is not None and args.tps <= 0:
        raise ValueError("--tps must be positive")
    if args.frames_per_second <= 0:
        raise ValueError("--frames-per-second must be positive")
    rekognition = RekognitionSettings(
        max_concurrent_jobs=args.max_concurrent_jobs,
        transactions_per_second=args.tps,
        frames_per_second=args.frames_per_second,
    )
    try:
        faults = FaultPlan.parse(args.faults, seed=args.fault_seed)
    except FaultPlanError as error:
        raise ValueError(f"--faults: {error}") from None
    return EndpointSettings(
        port=args.port, classifier=args.classifier, rekognition=rekognition, work_dir=args.work_dir, faults=faults
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, serve until SIGINT/SIGTERM, shut down cleanly; exit code 2 for a bad start."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        settings = settings_from_args(args)
        endpoint = build_endpoint(settings)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        reason = "the port is in use" if error.errno == errno.EADDRINUSE else str(error)
        print(f"error: cannot listen on {LOOPBACK}:{args.port}: {reason}", file=sys.stderr)
        return 2

    def stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("%s received, shutting down", signal.Signals(signum).name)
        threading.Thread(target=endpoint.stop_serving, name="modlake-stop").start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    faults = (
        f"  faults on: {settings.faults.describe()} of the requests get that service's throttling or 5xx error\n"
        if settings.faults.active
        else ""
    )
    print(
        f"modlake local endpoint on {endpoint.url}: Rekognition Video ({settings.classifier}) and Athena (DuckDB) "
        f"are modlake's, every other service is moto.\n{faults}"
        f"  export AWS_ENDPOINT_URL={endpoint.url} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
        f"AWS_DEFAULT_REGION=us-east-1\nCtrl-C stops it.",
        flush=True,
    )
    try:
        endpoint.serve_forever()
    finally:
        endpoint.shutdown()
    return 0
