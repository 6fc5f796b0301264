"""HTTP controller of the intake contract (DESIGN.md §7): parse, call one use case, answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromHeader, FromQuery, HeaderParameter, JSONBody

from evaluation_service.evaluations.schemas import (
    EvaluationIn,
    EvaluationOut,
    IndicatorOut,
    TransactionIn,
    TransactionOut,
)
from evaluation_service.evaluations.service import Intake


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


class IntakeController(Controller):
    path = "/api/v1"
    tags = ["intake"]  # noqa: RUF012 (Litestar declares it an instance attribute)

    @post(
        "/transactions",
        status_code=200,
        summary="Register or update a transaction and its service records",
    )
    async def register_transaction(
        self,
        intake: NamedDependency[Intake],
        data: JSONBody[TransactionIn],
        authorization: FromHeader[str | None] = None,
    ) -> TransactionOut:
        client_id = await intake.authenticate_client(_bearer(authorization))
        return await intake.register_transaction(client_id, data, datetime.now(UTC))

    @post("/evaluations", status_code=201, summary="Submit a rating of one service record")
    async def submit_evaluation(
        self,
        intake: NamedDependency[Intake],
        data: JSONBody[EvaluationIn],
        device_key: Annotated[str | None, HeaderParameter(name="X-Device-Key")] = None,
    ) -> EvaluationOut:
        return await intake.submit_evaluation(data, device_key, datetime.now(UTC))

    @get("/indicators", summary="Indicator tags offered for a satisfaction level")
    async def list_indicators(
        self, intake: NamedDependency[Intake], level: FromQuery[int | None] = None
    ) -> list[IndicatorOut]:
        return await intake.list_indicators(level)
