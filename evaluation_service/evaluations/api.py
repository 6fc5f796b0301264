"""HTTP controller of the intake contract (DESIGN.md §7): parse, call one use case, answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.middleware import DefineMiddleware
from litestar.params import FromHeader, FromQuery, HeaderParameter, JSONBody

from evaluation_service.evaluations.fast_rating import RatingFastPath
from evaluation_service.evaluations.schemas import (
    EvaluationIn,
    EvaluationOut,
    IndicatorOut,
    TransactionIn,
    TransactionOut,
)
from evaluation_service.evaluations.service import Intake
from evaluation_service.kernel.schemas import refusals


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


class IntakeController(Controller):
    """The intake contract. Its one collaborator, `intake`, is bound by the composition root
    (`intake_controllers`) rather than resolved per request: this is the hot path, and Litestar's
    per-request dependency resolution measured ~11 % of its throughput (bench/intake.py)."""

    path = "/api/v1"
    tags = ["intake"]  # noqa: RUF012 (Litestar declares it an instance attribute)
    intake: Intake

    @post(
        "/transactions",
        status_code=200,
        summary="Register or update a transaction and its service records",
        responses=refusals(401, 403, 404, 409, 413),
    )
    async def register_transaction(
        self,
        data: JSONBody[TransactionIn],
        authorization: FromHeader[str | None] = None,
    ) -> TransactionOut:
        client_id = await self.intake.authenticate_client(_bearer(authorization))
        return await self.intake.register_transaction(client_id, data, datetime.now(UTC))

    @get(
        "/indicators",
        summary="Indicator tags offered for a satisfaction level",
        responses=refusals(),
    )
    async def list_indicators(self, level: FromQuery[int | None] = None) -> list[IndicatorOut]:
        return await self.intake.list_indicators(level)


class RatingController(Controller):
    """The rating of the intake contract, on its own controller for the middleware that answers a
    well-formed rating without Litestar's handler machinery (`fast_rating.py`); the handler below
    documents the route and refuses everything else."""

    path = "/api/v1"
    tags = ["intake"]  # noqa: RUF012 (Litestar declares it an instance attribute)
    intake: Intake

    @post(
        "/evaluations",
        status_code=201,
        summary="Submit a rating of one service record",
        responses=refusals(401, 403, 404, 409, 410, 413),
    )
    async def submit_evaluation(
        self,
        data: JSONBody[EvaluationIn],
        device_key: Annotated[str | None, HeaderParameter(name="X-Device-Key")] = None,
    ) -> EvaluationOut:
        return await self.intake.submit_evaluation(data, device_key, datetime.now(UTC))


def intake_controllers(intake: Intake) -> list[type[Controller]]:
    """The controllers with the process's Intake bound to them (called once, by the root)."""
    return [
        type("IntakeController", (IntakeController,), {"intake": intake}),
        type(
            "RatingController",
            (RatingController,),
            {"intake": intake, "middleware": [DefineMiddleware(RatingFastPath, intake=intake)]},
        ),
    ]
