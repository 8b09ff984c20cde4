"""Query parameters every list endpoint shares."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from portal.domain.pagination import MAX_LIMIT

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"Rows per page (1-{MAX_LIMIT}).")]
