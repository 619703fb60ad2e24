"""Contract lifecycle (SPEC §6): every status against every decision, and properties."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.contracts import (
    SIGNABLE_FROM,
    TRADING_STATUSES,
    ContractStatus,
    check_acceptable,
    check_billable,
    check_draftable,
    check_editable,
    decide_cancel,
    decide_sign,
    is_complete,
    stage_after_cancel,
    stage_after_complete,
)
from app.domain.errors import Conflict
from app.domain.funnel import Stage

C = ContractStatus
D = Decimal
STATUSES = list(ContractStatus)
STAGES = list(Stage)

# Written out by hand from SPEC §6, independent of the implementation: which decision
# each status allows, and the error code of a refusal.
ALLOWED = {
    # status:      edit   sign   cancel accept bill
    C.draft: (True, True, True, False, False),
    C.signed: (False, False, True, True, True),
    C.completed: (False, False, False, False, False),
    C.cancelled: (False, False, False, False, False),
}
REFUSAL = {
    "edit": "contract.not_draft",
    "sign": "contract.not_draft",
    "cancel": "contract.not_cancellable",
    "accept": "contract.not_signed",
    "bill": "receivable.contract_not_signed",
}


def attempt(action: str, status: ContractStatus) -> None:
    if action == "edit":
        check_editable(status)
    elif action == "sign":
        decide_sign(status, customer_stage=Stage.intent)
    elif action == "cancel":
        decide_cancel(status, billed=D("0"))
    elif action == "accept":
        check_acceptable(status)
    else:
        check_billable(status)


def test_the_api_values_stay_the_same_strings() -> None:
    assert [s.value for s in ContractStatus] == ["draft", "signed", "completed", "cancelled"]
    assert {"signed", "completed"} == TRADING_STATUSES


@pytest.mark.parametrize(("status", "action"), list(product(STATUSES, REFUSAL)))
def test_each_status_allows_exactly_the_listed_decisions(status: ContractStatus, action: str) -> None:
    allowed = ALLOWED[status][list(REFUSAL).index(action)]
    if allowed:
        attempt(action, status)
        return
    with pytest.raises(Conflict) as exc:
        attempt(action, status)
    assert exc.value.code == REFUSAL[action]
    assert exc.value.extra.get("contract_status", status.value) == status.value


@pytest.mark.parametrize("stage", STAGES)
def test_signing_moves_the_customer_to_signed_only_from_an_earlier_active_stage(stage: Stage) -> None:
    if stage is Stage.abandoned:
        with pytest.raises(Conflict) as exc:
            decide_sign(C.draft, customer_stage=stage)
        assert exc.value.code == "contract.customer_abandoned"
        return
    expected = (
        Stage.signed
        if stage in {Stage.resource, Stage.graded, Stage.contacted, Stage.lead, Stage.intent}
        else None
    )
    assert decide_sign(C.draft, customer_stage=stage) is expected


@pytest.mark.parametrize("stage", STAGES)
def test_a_contract_is_drafted_for_any_customer_but_an_abandoned_one(stage: Stage) -> None:
    if stage is Stage.abandoned:
        with pytest.raises(Conflict, match="abandoned"):
            check_draftable(customer_stage=stage)
    else:
        check_draftable(customer_stage=stage)


def test_the_status_is_checked_before_the_customer() -> None:
    with pytest.raises(Conflict) as exc:
        decide_sign(C.signed, customer_stage=Stage.abandoned)
    assert exc.value.code == "contract.not_draft"


@pytest.mark.parametrize("status", [C.draft, C.signed])
def test_a_billed_contract_cannot_be_cancelled(status: ContractStatus) -> None:
    with pytest.raises(Conflict) as exc:
        decide_cancel(status, billed=D("0.01"))
    assert exc.value.code == "contract.has_receivables"


@pytest.mark.parametrize(("was", "stage", "other_signed"), list(product(STATUSES, STAGES, [False, True])))
def test_cancelling_steps_back_only_a_signed_customer_left_without_a_live_contract(
    was: ContractStatus, stage: Stage, other_signed: bool
) -> None:
    expected = Stage.intent if (was, stage, other_signed) == (C.signed, Stage.signed, False) else None
    assert stage_after_cancel(was, customer_stage=stage, other_signed=other_signed) is expected


@pytest.mark.parametrize("stage", STAGES)
def test_completion_implements_only_a_signed_customer(stage: Stage) -> None:
    assert stage_after_complete(stage) is (Stage.implemented if stage is Stage.signed else None)


def test_signable_stages_are_the_active_stages_before_signed() -> None:
    order = [Stage.resource, Stage.graded, Stage.contacted, Stage.lead, Stage.intent, Stage.signed]
    assert set(order[: order.index(Stage.signed)]) == SIGNABLE_FROM


money = st.decimals(min_value=D("0.01"), max_value=D("1e9"), places=2)


@given(status=st.sampled_from(STATUSES), accepted=st.booleans(), paid=money, amount=money)
def test_complete_means_signed_accepted_and_fully_paid(
    status: ContractStatus, accepted: bool, paid: Decimal, amount: Decimal
) -> None:
    done = is_complete(status, accepted=accepted, paid=paid, amount=amount)
    assert done == (status is C.signed and accepted and paid >= amount)
    # Paying more never un-completes a contract.
    if done:
        assert is_complete(status, accepted=accepted, paid=paid + D("0.01"), amount=amount)


@given(status=st.sampled_from(STATUSES), billed=st.decimals(min_value=D(0), max_value=D("1e9"), places=2))
def test_cancel_is_allowed_exactly_for_an_unbilled_draft_or_signed_contract(
    status: ContractStatus, billed: Decimal
) -> None:
    allowed = status in (C.draft, C.signed) and billed == 0
    try:
        decide_cancel(status, billed=billed)
    except Conflict:
        assert not allowed
    else:
        assert allowed
