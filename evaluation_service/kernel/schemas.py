"""Request shapes every package's HTTP edge shares (the one kernel module that knows Litestar)."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter

# A row id in a path: the tables' serial keys are 32-bit, so a larger number is a client error
# answered 422 before it reaches the database (where it would be an overflow).
RowId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
