"""Athena adapter: start named queries with execution parameters, wait with backoff, read typed rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.common.errors import QueryFailed
from queries import SqlFile

_DONE = {"SUCCEEDED", "FAILED", "CANCELLED"}
_INTEGER_TYPES = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOAT_TYPES = {"double", "float", "real", "decimal"}


def athena_value(raw: str | None, athena_type: str) -> Any:
    """One GetQueryResults cell (always a string, absent for NULL) as a Python value of its column type."""
    if raw is None:
        return None
    kind = athena_type.split("(", 1)[0].lower()
    if kind in _INTEGER_TYPES:
        return int(raw)
    if kind in _FLOAT_TYPES:
        return float(raw)
    if kind == "boolean":
        return raw == "true"
    if kind == "timestamp":
        return datetime.fromisoformat(raw)
    if kind == "date":
        return date.fromisoformat(raw)
    return raw


@dataclass
class _Running:
    name: str
    execution_id: str
    state: str = "QUEUED"


class AthenaQueryRunner:
    """Runs queries in one workgroup and database; gives up (and stops them) before the Lambda's time runs out."""

    def __init__(
        self,
        athena: Any,
        *,
        workgroup: str,
        database: str,
        time_left_ms: Callable[[], int],
        reserve_ms: int = 20_000,
        sleep: Callable[[float], None] = time.sleep,
        first_wait: float = 0.5,
        max_wait: float = 5.0,
    ) -> None:
        self.athena = athena
        self.workgroup = workgroup
        self.database = database
        self.time_left_ms = time_left_ms
        self.reserve_ms = reserve_ms
        self.sleep = sleep
        self.first_wait = first_wait
        self.max_wait = max_wait

    def run_all(self, requests: Sequence[tuple[SqlFile, Sequence[str]]]) -> list[list[dict[str, Any]]]:
        """Start every query at once, wait for all, then page through each one's results.

        When one fails (or cannot start, or time runs out) the others still running are stopped at once: their
        results could no longer be used, and Athena bills the data they scan.
        """
        running: list[_Running] = []
        try:
            for query, parameters in requests:
                running.append(_Running(query.name, self._start(query, parameters)))
            self._wait(running)
        except Exception as error:
            self._stop([run for run in running if run.state not in _DONE], error)
            raise
        return [self._rows(run.execution_id) for run in running]

    def _stop(self, running: Sequence[_Running], cause: Exception) -> None:
        for run in running:
            try:
                self.athena.stop_query_execution(QueryExecutionId=run.execution_id)
                run.state = "CANCELLED"
            except (ClientError, BotoCoreError) as error:  # the first failure is the one to report
                cause.add_note(f"could not stop query {run.name} ({run.execution_id}): {error}")

    def _start(self, query: SqlFile, parameters: Sequence[str]) -> str:
        request: dict[str, Any] = {
            "QueryString": query.sql,
            "QueryExecutionContext": {"Database": self.database},
            "WorkGroup": self.workgroup,
        }
        if parameters:  # Athena rejects an empty ExecutionParameters list
            request["ExecutionParameters"] = list(parameters)
        # Throttling is retried by the client's retry policy (functions.common.adapters.clients), not here.
        return str(self.athena.start_query_execution(**request)["QueryExecutionId"])

    def _wait(self, running: list[_Running]) -> None:
        wait = self.first_wait
        while True:
            for run in running:
                if run.state in _DONE:
                    continue
                status = self.athena.get_query_execution(QueryExecutionId=run.execution_id)["QueryExecution"]["Status"]
                run.state = status["State"]
                if run.state in ("FAILED", "CANCELLED"):
                    raise QueryFailed(run.name, run.state, status.get("StateChangeReason", "no reason given"))
            pending = [run for run in running if run.state not in _DONE]
            if not pending:
                return
            if self._out_of_time(wait):  # run_all stops the pending queries
                raise QueryFailed(pending[0].name, "TIMED_OUT", "stopped: the function's time ran out")
            self.sleep(wait)
            wait = min(wait * 1.5, self.max_wait)

    def _rows(self, execution_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        columns: list[tuple[str, str]] = []
        paginator = self.athena.get_paginator("get_query_results")
        for page in paginator.paginate(QueryExecutionId=execution_id):
            result_set = page["ResultSet"]
            if not columns:
                columns = [(c["Name"], c["Type"]) for c in result_set["ResultSetMetadata"]["ColumnInfo"]]
                data = result_set["Rows"][1:]  # the first row of the first page repeats the column names
            else:
                data = result_set["Rows"]
            for row in data:
                cells = [cell.get("VarCharValue") for cell in row["Data"]]
                rows.append({name: athena_value(cell, kind) for (name, kind), cell in zip(columns, cells, strict=True)})
        return rows

    def _out_of_time(self, next_wait: float) -> bool:
        return self.time_left_ms() - next_wait * 1000 < self.reserve_ms
