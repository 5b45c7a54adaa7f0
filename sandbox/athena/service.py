"""The local Athena query-execution API: SQL over the local Glue catalog and S3, run on DuckDB, answered as Athena does.

StartQueryExecution checks the work group (moto keeps work groups) and where results go, then queues the query;
a worker resolves the tables and views it names in Glue, mirrors their S3 objects, runs it with the local engine,
writes `<OutputLocation>/<QueryExecutionId>.csv` and records the statistics (DataScannedInBytes is the size of the
Parquet objects DuckDB opened, so partition pruning shows). A bad query ends FAILED with Trino's error name
leading its StateChangeReason, as in Athena. GetQueryResults pages through the rows with the header row first.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from sqlglot import exp

from sandbox.athena.catalog import CatalogResolver, split_s3_uri
from sandbox.athena.engine import LakeQueryEngine, QueryError, ResultColumn, bind_parameters, parse_statement
from sandbox.athena.mirror import LakeMirror
from sandbox.athena.results import column_info, csv_text, row_texts
from sandbox.protocol import ClientFactory, PageTokens, RequestContext, ServiceError

logger = logging.getLogger(__name__)

START = "StartQueryExecution"
GET = "GetQueryExecution"
RESULTS = "GetQueryResults"
STOP = "StopQueryExecution"
LIST = "ListQueryExecutions"
BATCH_GET = "BatchGetQueryExecution"

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
_ACTIVE = frozenset({QUEUED, RUNNING})
PRIMARY_WORK_GROUP = "primary"
DEFAULT_CATALOG = "AwsDataCatalog"
DEFAULT_DATABASE = "default"
# Athena's own bookkeeping (the work group, the account): AWS checks no caller permission for these reads.
SERVICE_PRINCIPAL = "service:athena"
ENGINE_VERSION = "Athena engine version 3"
MAX_RESULTS = 1000
MAX_LISTED = 50
INVALID_REQUEST = "InvalidRequestException"
NO_OUTPUT_LOCATION = (
    "No output location provided. An output location is required either through the Workgroup result "
    "configuration setting or as an API input."
)
CANCELLED_BY_USER = "Query cancelled by user"
BYTES_SCANNED_EXCEEDED = "Query cancelled! : Bytes scanned limit was exceeded"
USER_ERROR, SYSTEM_ERROR = 2, 1  # AthenaError.ErrorCategory
# Athena's error catalog: ErrorType numbers for the Trino error names local queries fail with.
ERROR_TYPES = {
    "GENERIC_USER_ERROR": 1000,
    "INVALID_CAST_ARGUMENT": 1001,
    "SYNTAX_ERROR": 1006,
    "COLUMN_NOT_FOUND": 1006,
    "INVALID_PARAMETER_USAGE": 1100,
    "INVALID_TABLE_PROPERTY": 1103,
    "INVALID_VIEW": 1107,
    "TABLE_NOT_FOUND": 1110,
    "NOT_SUPPORTED": 1200,
    "SCHEMA_NOT_FOUND": 1301,
    "CATALOG_NOT_FOUND": 1301,
    "HIVE_FILESYSTEM_ERROR": 1302,
}
QUERY_TYPE_NOT_SUPPORTED = 1202
OUTPUT_BUCKET_NOT_FOUND = 1306
INTERNAL_ERROR = 100


class UnsupportedStatement(QueryError):
    """A statement that is not a query (DDL, INSERT, SHOW, …): Athena would run it; the local service does not."""

    athena_error_type = QUERY_TYPE_NOT_SUPPORTED


def statement_type(sql: str) -> tuple[str, str | None]:
    """(StatementType, SubstatementType) Athena reports for a statement; a text that does not parse counts as DML."""
    try:
        tree = parse_statement(sql)
    except QueryError:
        return "DML", None
    if isinstance(tree, exp.Query):
        return "DML", "SELECT"
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete | exp.Merge):
        return "DML", tree.key.upper()
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "TABLE").upper().replace("SCHEMA", "DATABASE")
        as_select = kind == "TABLE" and isinstance(tree.expression, exp.Query)
        return "DDL", f"CREATE_{kind}" + ("_AS_SELECT" if as_select else "")
    if isinstance(tree, exp.Drop):
        return "DDL", "DROP_" + str(tree.args.get("kind") or "TABLE").upper().replace("SCHEMA", "DATABASE")
    if isinstance(tree, exp.Alter):
        return "DDL", "ALTER_TABLE"
    if isinstance(tree, exp.Describe):
        return "UTILITY", "DESCRIBE_TABLE"
    if isinstance(tree, exp.Command):
        word = str(tree.this).upper()
        return {
            "SHOW": ("UTILITY", "SHOW"),
            "EXPLAIN": ("UTILITY", "EXPLAIN"),
            "MSCK": ("DDL", "MSCK_REPAIR_TABLE"),
            "UNLOAD": ("DML", "UNLOAD"),
        }.get(word, ("DDL", None))
    return "DML", None


@dataclass
class _Execution:
    """One query execution: what was asked, where results go, its state and, once done, its results."""

    execution_id: str
    context: RequestContext
    account: str
    sequence: int
    query: str
    work_group: str
    query_context: dict[str, str]
    result_configuration: dict[str, Any]  # OutputLocation: the s3:// URI of the result CSV
    parameters: tuple[str, ...] | None
    statement: tuple[str, str | None]
    engine_version: dict[str, str]
    bytes_cutoff: int | None
    reuse_configuration: dict[str, Any]
    submitted: datetime
    queued_at: float  # perf_counter seconds
    state: str = QUEUED
    reason: str | None = None
    error: dict[str, Any] | None = None
    completed: datetime | None = None
    started_at: float | None = None
    finished_at: float | None = None
    planning_ms: int = 0
    engine_ms: int = 0
    processing_ms: int = 0
    scanned_bytes: int = 0
    columns: tuple[ResultColumn, ...] = ()
    rows: list[list[str | None]] = field(default_factory=list)

    @property
    def scope(self) -> tuple[str, str]:
        """(account, region): an execution is visible to callers of its own account and region only."""
        return self.account, self.context.region


@dataclass(frozen=True)
class _Outcome:
    """What a finished run produced, before it is recorded."""

    columns: tuple[ResultColumn, ...]
    rows: list[list[str | None]]
    scanned_bytes: int
    planning_ms: int
    engine_ms: int


def _millis(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _not_found(execution_id: str) -> ServiceError:
    return ServiceError(INVALID_REQUEST, f"QueryExecution {execution_id} was not found")


class AthenaService:
    """Athena query executions on this machine: AWS's API over the local Glue catalog, S3 and DuckDB."""

    service_name = "athena"

    def __init__(
        self,
        clients: ClientFactory,
        work_dir: Path,
        *,
        workers: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clients = clients
        self._clock = clock
        self._mirror = LakeMirror(Path(work_dir) / "mirror")
        self._page_tokens = PageTokens(clock)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._query_lock = threading.Lock()  # one sync + execute at a time: no query sees a half-synced mirror
        self._executions: dict[str, _Execution] = {}
        self._tokens: dict[tuple[str, str, str], str] = {}  # (account, region, ClientRequestToken) → id
        self._accounts: dict[str, str] = {}  # access key → account (as moto's STS says)
        self._sequence = 0
        self._active = 0  # executions QUEUED or RUNNING
        self._busy = 0  # submitted worker runs that have not returned (a cancelled query's worker may still be busy)
        self._running: tuple[str, LakeQueryEngine] | None = None
        self._closed = False
        self._workers = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="athena")

    @property
    def mirror_root(self) -> Path:
        """Where the tables' S3 objects are mirrored (`<account>/<region>/<database>/<table>/…`)."""
        return self._mirror.root

    def operations(self) -> frozenset[str]:
        """The Athena operations answered here; work groups, named queries and data catalogs stay with moto."""
        return frozenset({START, GET, RESULTS, STOP, LIST, BATCH_GET})

    def handle(self, operation: str, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        """Answer one validated request (thread-safe), or raise ServiceError as Athena would."""
        if self._closed:
            raise ServiceError("InternalServerException", "The local Athena service is shutting down.", status=500)
        handlers: dict[str, Callable[[dict[str, Any], RequestContext], dict[str, Any]]] = {
            START: self._start,
            GET: self._get,
            RESULTS: self._results,
            STOP: self._stop,
            LIST: self._list,
            BATCH_GET: self._batch_get,
        }
        handler = handlers.get(operation)
        if handler is None:
            raise ServiceError("UnknownOperationException", f"Unknown operation {operation}")
        return handler(request, context)

    def close(self) -> None:
        """Stop taking work, cancel queued and running queries (the mirror stays: it is a cache across restarts)."""
        with self._lock:
            self._closed = True
            for execution in self._executions.values():
                if execution.state in _ACTIVE:
                    self._finish_locked(execution, CANCELLED, "The local Athena service shut down")
            running = self._running
        if running is not None:
            running[1].interrupt()
        self._workers.shutdown(wait=False, cancel_futures=True)

    def wait_until_idle(self, timeout: float) -> bool:
        """True once no query is QUEUED or RUNNING and no worker is busy; False if `timeout` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._active == 0 and self._busy == 0, timeout)

    # --- StartQueryExecution ------------------------------------------------------------------------------------
    def _start(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        account = self._account(context)
        token = request.get("ClientRequestToken")
        if token:
            with self._lock:
                known = self._tokens.get((account, context.region, token))
            if known is not None:
                return {"QueryExecutionId": known}
        work_group_name = request.get("WorkGroup") or PRIMARY_WORK_GROUP
        work_group = self._work_group(work_group_name, context)
        configuration = work_group.get("Configuration") or {}
        result_configuration = self._result_configuration(request.get("ResultConfiguration") or {}, configuration)
        selected = (configuration.get("EngineVersion") or {}).get("SelectedEngineVersion") or "AUTO"
        with self._lock:
            if token and (account, context.region, token) in self._tokens:  # a concurrent retry won the race
                return {"QueryExecutionId": self._tokens[(account, context.region, token)]}
            execution_id = str(uuid.uuid4())
            self._sequence += 1
            output = result_configuration["OutputLocation"]
            separator = "" if output.endswith("/") else "/"
            parameters = request.get("ExecutionParameters")
            execution = _Execution(
                execution_id=execution_id,
                context=context,
                account=account,
                sequence=self._sequence,
                query=request["QueryString"],
                work_group=work_group_name,
                query_context=dict(request.get("QueryExecutionContext") or {}),
                result_configuration={
                    **result_configuration,
                    "OutputLocation": f"{output}{separator}{execution_id}.csv",
                },
                parameters=tuple(parameters) if parameters else None,
                statement=statement_type(request["QueryString"]),
                engine_version={"SelectedEngineVersion": selected, "EffectiveEngineVersion": ENGINE_VERSION},
                bytes_cutoff=configuration.get("BytesScannedCutoffPerQuery"),
                reuse_configuration=request.get("ResultReuseConfiguration")
                or {"ResultReuseByAgeConfiguration": {"Enabled": False}},
                submitted=datetime.fromtimestamp(self._clock(), UTC),
                queued_at=time.perf_counter(),
            )
            self._executions[execution_id] = execution
            if token:
                self._tokens[(account, context.region, token)] = execution_id
            self._active += 1
            self._busy += 1
        self._workers.submit(self._run, execution)
        return {"QueryExecutionId": execution_id}

    def _account(self, context: RequestContext) -> str:
        """The caller's account, as moto's STS derives it from the access key (cached per key)."""
        with self._lock:
            known = self._accounts.get(context.access_key)
        if known is None:
            known = str(self._clients("sts", context.acting_as(SERVICE_PRINCIPAL)).get_caller_identity()["Account"])
            with self._lock:
                self._accounts[context.access_key] = known
        return known

    def _work_group(self, name: str, context: RequestContext) -> dict[str, Any]:
        """The work group as moto's Athena keeps it; Athena's InvalidRequestException when there is none."""
        try:
            group = (
                self._clients("athena", context.acting_as(SERVICE_PRINCIPAL))
                .get_work_group(WorkGroup=name)
                .get("WorkGroup")
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != INVALID_REQUEST:
                raise
            group = None
        if not group:
            raise ServiceError(INVALID_REQUEST, f"WorkGroup {name} is not found.")
        if group.get("State", "ENABLED") != "ENABLED":
            raise ServiceError(INVALID_REQUEST, f"WorkGroup {name} is disabled.")
        return dict(group)

    @staticmethod
    def _result_configuration(requested: dict[str, Any], configuration: dict[str, Any]) -> dict[str, Any]:
        """Where results go: the work group's settings when it enforces them, else the request's over the group's."""
        group = configuration.get("ResultConfiguration") or {}
        effective = dict(group) if configuration.get("EnforceWorkGroupConfiguration") else {**group, **requested}
        location = effective.get("OutputLocation")
        if not location:
            raise ServiceError(INVALID_REQUEST, NO_OUTPUT_LOCATION)
        try:
            split_s3_uri(location)
        except ValueError as error:
            raise ServiceError(
                INVALID_REQUEST, f"The S3 location provided to save your query results is invalid: {location}"
            ) from error
        return effective

    # --- running a query ----------------------------------------------------------------------------------------
    def _run(self, execution: _Execution) -> None:
        """A worker's job: QUEUED → RUNNING → SUCCEEDED | FAILED (CANCELLED may come from outside at any time)."""
        try:
            self._run_query(execution)
        finally:
            with self._lock:
                self._busy -= 1
                self._changed.notify_all()

    def _run_query(self, execution: _Execution) -> None:
        with self._lock:
            if execution.state != QUEUED:
                return
            execution.state = RUNNING
            execution.started_at = time.perf_counter()
            self._changed.notify_all()
        try:
            outcome = self._execute(execution)
            if outcome is None:
                return  # cancelled while waiting for its turn
            self._finish_run(execution, outcome)
        except QueryError as error:
            number = getattr(error, "athena_error_type", None) or ERROR_TYPES.get(error.error_type, 1000)
            self._fail(execution, str(error), USER_ERROR, number)
        except Exception as error:  # a bug of ours or an unreachable dependency: the query fails, the service lives
            logger.exception("query %s failed unexpectedly", execution.execution_id)
            self._fail(execution, f"INTERNAL_ERROR: {type(error).__name__}: {error}", SYSTEM_ERROR, INTERNAL_ERROR)

    def _execute(self, execution: _Execution) -> _Outcome | None:
        """Resolve, mirror and run the query, holding the query lock throughout."""
        context = execution.context
        with self._query_lock:
            if self._state(execution) != RUNNING:
                return None
            began = time.perf_counter()
            bound = bind_parameters(execution.query, execution.parameters or ())
            tree = parse_statement(bound)
            if not isinstance(tree, exp.Query):
                kind = execution.statement[1] or tree.key.upper()
                raise UnsupportedStatement("NOT_SUPPORTED", f"only SELECT/WITH queries run locally, not {kind}")
            resolver = CatalogResolver(
                self._clients("glue", context),
                catalog=execution.query_context.get("Catalog") or DEFAULT_CATALOG,
                database=execution.query_context.get("Database") or DEFAULT_DATABASE,
                now=datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None),
                mirror_prefix=f"{execution.account}/{context.region}",
            )
            resolution = resolver.resolve(bound, tree)
            s3 = self._clients("s3", context)
            for table in resolution.tables:
                self._mirror.sync(s3, table.lake_table.path, table.objects(s3))
            planned = time.perf_counter()
            engine = LakeQueryEngine(self._mirror.root, [t.lake_table for t in resolution.tables], resolution.views)
            try:
                with self._lock:
                    if execution.state != RUNNING:
                        return None
                    self._running = (execution.execution_id, engine)
                result = engine.execute(resolution.sql)
            finally:
                with self._lock:
                    self._running = None
                engine.close()
            executed = time.perf_counter()
        return _Outcome(
            columns=result.columns,
            rows=row_texts(result.columns, result.rows),
            scanned_bytes=result.bytes_read,
            planning_ms=_millis(planned - began),
            engine_ms=_millis(executed - began),
        )

    def _finish_run(self, execution: _Execution, outcome: _Outcome) -> None:
        """Apply the bytes-scanned cutoff, write the result CSV and record SUCCEEDED (unless cancelled meanwhile)."""
        with self._lock:
            execution.scanned_bytes = outcome.scanned_bytes
            execution.planning_ms, execution.engine_ms = outcome.planning_ms, outcome.engine_ms
        cutoff = execution.bytes_cutoff
        if cutoff is not None and outcome.scanned_bytes > cutoff:
            with self._lock:
                if execution.state == RUNNING:
                    self._finish_locked(execution, CANCELLED, BYTES_SCANNED_EXCEEDED)
            return
        began = time.perf_counter()
        names = [column.name for column in outcome.columns]
        if not self._write_csv(execution, csv_text(names, outcome.rows)):
            return
        with self._lock:
            execution.processing_ms = _millis(time.perf_counter() - began)
            if execution.state == RUNNING:
                execution.columns, execution.rows = outcome.columns, outcome.rows
                self._finish_locked(execution, SUCCEEDED, None)

    def _write_csv(self, execution: _Execution, body: str) -> bool:
        """Put `<id>.csv` where Athena would; a missing bucket fails the query as Athena does."""
        configuration = execution.result_configuration
        bucket, key = split_s3_uri(configuration["OutputLocation"])
        extra: dict[str, str] = {}
        encryption = configuration.get("EncryptionConfiguration") or {}
        if encryption.get("EncryptionOption") == "SSE_S3":
            extra["ServerSideEncryption"] = "AES256"
        elif encryption.get("EncryptionOption") in ("SSE_KMS", "CSE_KMS"):
            extra["ServerSideEncryption"] = "aws:kms"
            if encryption.get("KmsKey"):
                extra["SSEKMSKeyId"] = encryption["KmsKey"]
        try:
            self._clients("s3", execution.context).put_object(
                Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType="text/csv", **extra
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
            self._fail(
                execution, f"Unable to verify/create output bucket {bucket}", USER_ERROR, OUTPUT_BUCKET_NOT_FOUND
            )
            return False
        return True

    def _fail(self, execution: _Execution, reason: str, category: int, error_type: int) -> None:
        with self._lock:
            if execution.state != RUNNING:
                return  # cancelled meanwhile: the interruption is not the query's failure
            execution.error = {
                "ErrorCategory": category,
                "ErrorType": error_type,
                "Retryable": False,
                "ErrorMessage": reason,
            }
            self._finish_locked(execution, FAILED, reason)

    def _finish_locked(self, execution: _Execution, state: str, reason: str | None) -> None:
        """Move an active execution to a final state (the caller holds the lock)."""
        execution.state = state
        execution.reason = reason
        execution.completed = datetime.fromtimestamp(self._clock(), UTC)
        execution.finished_at = time.perf_counter()
        self._active -= 1
        self._changed.notify_all()
        logger.info("query %s %s%s", execution.execution_id, state, f": {reason}" if reason else "")

    def _state(self, execution: _Execution) -> str:
        with self._lock:
            return execution.state

    # --- reading executions -------------------------------------------------------------------------------------
    def _lookup(self, execution_id: str, context: RequestContext) -> _Execution:
        account = self._account(context)
        with self._lock:
            execution = self._executions.get(execution_id)
        if execution is None or execution.scope != (account, context.region):
            raise _not_found(execution_id)
        return execution

    def _get(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        execution = self._lookup(request["QueryExecutionId"], context)
        return {"QueryExecution": self._describe(execution)}

    def _batch_get(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        found, unprocessed = [], []
        for execution_id in request["QueryExecutionIds"]:
            try:
                found.append(self._describe(self._lookup(execution_id, context)))
            except ServiceError as error:
                unprocessed.append(
                    {"QueryExecutionId": execution_id, "ErrorCode": error.code, "ErrorMessage": error.message}
                )
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": unprocessed}

    def _describe(self, execution: _Execution) -> dict[str, Any]:
        """The QueryExecution structure Athena returns (a consistent snapshot)."""
        with self._lock:
            status: dict[str, Any] = {"State": execution.state, "SubmissionDateTime": execution.submitted}
            if execution.reason is not None:
                status["StateChangeReason"] = execution.reason
            if execution.completed is not None:
                status["CompletionDateTime"] = execution.completed
            if execution.error is not None:
                status["AthenaError"] = dict(execution.error)
            described: dict[str, Any] = {
                "QueryExecutionId": execution.execution_id,
                "Query": execution.query,
                "StatementType": execution.statement[0],
                "ResultConfiguration": dict(execution.result_configuration),
                "ResultReuseConfiguration": execution.reuse_configuration,
                "QueryExecutionContext": dict(execution.query_context),
                "Status": status,
                "Statistics": self._statistics(execution),
                "WorkGroup": execution.work_group,
                "EngineVersion": dict(execution.engine_version),
            }
            if execution.parameters:
                described["ExecutionParameters"] = list(execution.parameters)
            if execution.statement[1]:
                described["SubstatementType"] = execution.statement[1]
        return described

    @staticmethod
    def _statistics(execution: _Execution) -> dict[str, Any]:
        now = time.perf_counter()
        queue_end = execution.started_at if execution.started_at is not None else (execution.finished_at or now)
        total_end = execution.finished_at if execution.finished_at is not None else now
        return {
            "EngineExecutionTimeInMillis": execution.engine_ms,
            "DataScannedInBytes": execution.scanned_bytes,
            "TotalExecutionTimeInMillis": _millis(total_end - execution.queued_at),
            "QueryQueueTimeInMillis": _millis(queue_end - execution.queued_at),
            "QueryPlanningTimeInMillis": execution.planning_ms,
            "ServiceProcessingTimeInMillis": execution.processing_ms,
            "ResultReuseInformation": {"ReusedPreviousResult": False},
        }

    # --- GetQueryResults ----------------------------------------------------------------------------------------
    def _results(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        execution = self._lookup(request["QueryExecutionId"], context)
        with self._lock:
            state, reason = execution.state, execution.reason
            columns, rows = execution.columns, execution.rows
        if state in _ACTIVE:
            raise ServiceError(INVALID_REQUEST, f"Query has not yet finished. Current state: {state}")
        if state != SUCCEEDED:
            raise ServiceError(INVALID_REQUEST, reason or f"Query did not finish successfully. Final state: {state}")
        size = int(request.get("MaxResults") or MAX_RESULTS)
        token = request.get("NextToken")
        offset = self._read_token(token, "results", execution.execution_id) if token else 0
        header: list[str | None] = [column.name for column in columns]
        # Position 0 is the header row, position n the n-th data row: the header counts against page one.
        if offset > len(rows):
            raise self._bad_token()
        page = [header, *rows[: size - 1]] if offset == 0 else rows[offset - 1 : offset - 1 + size]
        response: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {
                "Rows": [{"Data": [{} if text is None else {"VarCharValue": text} for text in row]} for row in page],
                "ResultSetMetadata": {"ColumnInfo": [column_info(column) for column in columns]},
            },
        }
        following = offset + size
        if following <= len(rows):
            response["NextToken"] = self._page_tokens.make(f"results:{execution.execution_id}", following)
        return response

    def _read_token(self, token: str, kind: str, scope: str) -> int:
        """The position a NextToken holds, if this service made it for the same listing."""
        offset = self._page_tokens.read(token, f"{kind}:{scope}")
        if offset is None:
            raise self._bad_token()
        return offset

    @staticmethod
    def _bad_token() -> ServiceError:
        return ServiceError(INVALID_REQUEST, "The NextToken is not valid for this request.")

    # --- StopQueryExecution, ListQueryExecutions ----------------------------------------------------------------
    def _stop(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        execution = self._lookup(request["QueryExecutionId"], context)
        with self._lock:
            if execution.state not in _ACTIVE:
                return {}
            self._finish_locked(execution, CANCELLED, CANCELLED_BY_USER)
            running = self._running
        if running is not None and running[0] == execution.execution_id:
            running[1].interrupt()
        return {}

    def _list(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        name = request.get("WorkGroup") or PRIMARY_WORK_GROUP
        self._work_group(name, context)
        account = self._account(context)
        size = int(request.get("MaxResults") or MAX_LISTED)
        token = request.get("NextToken")
        scope = f"{account}:{context.region}:{name}"
        offset = self._read_token(token, "list", scope) if token else 0
        with self._lock:
            mine = [
                e for e in self._executions.values() if e.scope == (account, context.region) and e.work_group == name
            ]
        ids = [e.execution_id for e in sorted(mine, key=lambda e: e.sequence, reverse=True)]
        page = ids[offset : offset + size]
        response: dict[str, Any] = {}
        if page:  # the model's list has a minimum length of 1
            response["QueryExecutionIds"] = page
        if offset + size < len(ids):
            response["NextToken"] = self._page_tokens.make(f"list:{scope}", offset + size)
        return response
