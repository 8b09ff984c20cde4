"""Property: wherever a fetch fails, the watermark never moves past what was committed.

Hypothesis picks how many cases exist, the page size, and which steps of the sync meet which
fault (a 5xx, an error disguised as an empty list, a 429, a malformed 200), on the case list or
on a case's comments halfway through a page. After every step the watermark has not moved
backwards, has not moved on a failed step, and never exceeds the newest change already imported;
once the faults stop, every case is imported exactly once.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from portal.config import Settings
from tests.sync.harness import ago, make_world

FAULTS = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["server_error", "empty_error", "rate_limit", "malformed"]),
        st.sampled_from(["list", "comments"]),
    ),
)


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    cases=st.integers(min_value=1, max_value=9),
    page_size=st.integers(min_value=1, max_value=4),
    plan=st.lists(FAULTS, max_size=8),
)
async def test_failed_fetches_never_advance_the_watermark(
    settings: Settings, sessionmaker, cases: int, page_size: int, plan: list[tuple[str, str] | None]
) -> None:
    world = await make_world(settings, sessionmaker, page_size=page_size)
    ids = [world.case(f"Case {n}", modified_at=ago(world.state, minutes=600 - 7 * n)) for n in range(cases)]
    times = {case_id: world.state.case(case_id).modified_at for case_id in ids}
    list_prefix = f"/api/v1/tenants/{world.tenant}/cases"

    previous: datetime | None = None
    for fault in plan:
        before = await world.maybe_state()
        if fault is not None:
            kind, where = fault
            options: dict[str, object] = {"body": {}} if kind == "malformed" else {}
            if where == "list":
                world.state.faults.add(kind, path_prefix=list_prefix, method="GET", count=1, **options)
            else:
                world.state.faults.add(kind, path_prefix=f"{list_prefix}/", method="GET", count=1, **options)
        step = await world.advance()
        state = await world.sync_state()
        imported = await world.links_per_case()
        newest_imported = max((times[case] for case in imported), default=None)
        if state.watermark is not None:
            assert newest_imported is not None
            assert state.watermark <= newest_imported
        if previous is not None:
            assert state.watermark is not None
            assert state.watermark >= previous
        if step.outcome in ("retry", "failed") and before is not None:
            assert state.watermark == before.watermark
            assert state.page_token == before.page_token or step.outcome == "failed"
        previous = state.watermark
        world.state.faults.clear()

    await world.run_to_end()
    await world.run_to_end()  # a run started mid-way by the plan ends, then a clean one
    assert await world.links_per_case() == dict.fromkeys(times, 1)
    assert await world.watermark() == max(times.values())
