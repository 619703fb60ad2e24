"""A new client developer's first session, through the generated Python client, against a server.

    PYTHONPATH=DIR_ABOVE_THE_CLIENT python scripts/client_scenario.py BASE_URL \
        [--package crm_client] [--username rep1] [--director director] [--password demo-pass-2026]

Needs a migrated, demo-seeded server (``crm seed-demo``) and the package that
``scripts/generate_client.py`` wrote. It logs in, creates a customer with a contact, pages
through customers, moves the customer through the funnel, drafts a contract that a director
signs over the new customer's (empty) credit limit, and
reads a setting; every answer must be the typed model of the operation (never ``None`` or a
``Problem``). CI runs it after generating the client.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
import uuid
from typing import Any


class ScenarioFailed(AssertionError):
    pass


def expect(value: Any, model: type, step: str) -> Any:
    """``value`` must be an instance of the operation's typed success model."""
    if not isinstance(value, model):
        raise ScenarioFailed(f"{step}: expected {model.__name__}, got {value!r}")
    return value


def run(base_url: str, package: str, username: str, director: str, password: str) -> list[str]:
    client_mod = importlib.import_module(f"{package}.client")
    models = importlib.import_module(f"{package}.models")

    def call(operation: str, **kwargs: Any) -> Any:
        tag, name = operation.split(".")
        return importlib.import_module(f"{package}.api.{tag}.{name}").sync(**kwargs)

    done: list[str] = []
    anonymous = client_mod.Client(base_url=base_url, raise_on_unexpected_status=True)
    tokens = expect(
        call(
            "auth.auth_token", client=anonymous, body=models.TokenForm(username=username, password=password)
        ),
        models.TokenPairRead,
        "log in",
    )
    client = client_mod.AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
    )
    me = expect(call("me.me_get", client=client), models.MeRead, "who am I")
    done.append(f"logged in as {me.username} ({me.role})")

    suffix = uuid.uuid4().hex[:8]
    contact = models.ContactIn(
        name="王经理 Wang", phones=[f"1390000{int(suffix[:4], 16) % 10000:04d}"], is_primary=True
    )
    customer = expect(
        call(
            "customers.customers_create",
            client=client,
            body=models.CustomerCreate(
                name=f"Client Scenario Co {suffix}", contacts=[contact], region="上海"
            ),
            idempotency_key=f"scenario-{suffix}",
        ),
        models.CustomerDetail,
        "create a customer",
    )
    assert customer.contacts and customer.contacts[0].name == contact.name, customer.contacts
    contacts = expect(
        call("customers.contacts_list", client=client, customer_id=customer.id),
        models.ContactPage,
        "list its contacts",
    )
    assert [c.id for c in contacts.items] == [customer.contacts[0].id], contacts
    done.append(f"created customer {customer.name} with contact {contacts.items[0].name}")

    seen: list[Any] = []
    cursor: Any = None
    for _ in range(3):
        page = expect(
            call(
                "customers.customers_list", client=client, limit=2, **({"cursor": cursor} if cursor else {})
            ),
            models.CustomerPage,
            "page through customers",
        )
        assert all(isinstance(c, models.CustomerRead) for c in page.items)
        seen += page.items
        cursor = page.next_cursor
        if not cursor:
            break
    assert len({c.id for c in seen}) == len(seen), "pages overlap"
    done.append(f"paged through {len(seen)} customers, 2 a page")

    expect(
        call(
            "activities.activities_create",
            client=client,
            body=models.ActivityCreate(
                customer_id=customer.id,
                type_=models.ActivityType.CALL,
                occurred_at=dt.datetime.now(dt.UTC),
                subject="Introduction",
            ),
        ),
        models.ActivityRead,
        "log a call",
    )
    moves = [
        models.TransitionCreate(
            to_stage=models.Stage.GRADED,
            grade=models.Grade.A,
            recommended_products=["ERP"],
            target_amount="80000.00",
        )
    ]
    moves += [
        models.TransitionCreate(to_stage=stage)
        for stage in (models.Stage.CONTACTED, models.Stage.LEAD, models.Stage.INTENT)
    ]
    for move in moves:
        moved = expect(
            call("customers.customers_transition", client=client, customer_id=customer.id, body=move),
            models.CustomerRead,
            f"move to {move.to_stage}",
        )
        assert moved.stage == move.to_stage, moved.stage
    done.append("moved it resource → graded → contacted → lead → intent")

    contract = expect(
        call(
            "contracts.contracts_create",
            client=client,
            body=models.ContractCreate(customer_id=customer.id, number=f"HT-{suffix}", amount="20000.00"),
            idempotency_key=f"contract-{suffix}",
        ),
        models.ContractRead,
        "draft a contract",
    )
    # A new customer has no credit yet: a director signs, overriding the credit block.
    director_tokens = expect(
        call(
            "auth.auth_token", client=anonymous, body=models.TokenForm(username=director, password=password)
        ),
        models.TokenPairRead,
        "log in as the director",
    )
    director_client = client_mod.AuthenticatedClient(
        base_url=base_url, token=director_tokens.access_token, raise_on_unexpected_status=True
    )
    override = models.CreditOverride(reason="New customer; credit check done offline")
    signed = expect(
        call(
            "contracts.contracts_sign",
            client=director_client,
            contract_id=contract.id,
            body=models.SignRequest(override=override),
        ),
        models.ContractRead,
        "sign it",
    )
    assert signed.status.value == "signed" and signed.amount == "20000.00", signed
    customer_now = expect(
        call("customers.customers_get", client=client, customer_id=customer.id),
        models.CustomerDetail,
        "read the customer",
    )
    assert customer_now.stage == models.Stage.SIGNED, customer_now.stage
    done.append(f"signed contract {signed.number} for {signed.amount}; the customer is signed")

    credit = expect(
        call("settings.settings_get_credit", client=client), models.CreditSettings, "read the credit settings"
    )
    assert isinstance(credit.default_credit_limit, str) and credit.provision_rates.current, credit
    funnel = expect(
        call("settings.settings_get_funnel", client=client), models.FunnelSettings, "read the funnel settings"
    )
    assert len(funnel.steps) == 6 and isinstance(funnel.steps[0], models.IdealStepDoc)
    done.append(
        f"read settings: default credit limit {credit.default_credit_limit}, {len(funnel.steps)} funnel steps"
    )
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--package", default="crm_client")
    parser.add_argument("--username", default="rep1")
    parser.add_argument("--director", default="director", help="signs over the credit block")
    parser.add_argument("--password", default="demo-pass-2026", help="of both users")
    args = parser.parse_args()
    try:
        steps = run(args.base_url, args.package, args.username, args.director, args.password)
    except (ScenarioFailed, AssertionError) as exc:
        print(f"client scenario FAILED: {exc}", file=sys.stderr)
        return 1
    for step in steps:
        print(f"  ok: {step}")
    print("client scenario passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
