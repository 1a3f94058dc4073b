"""No repr, str or log line of either client shows a password, token or client secret."""

from __future__ import annotations

import logging

import pytest
import requests
from marketo_fake import BASE_URL, CLIENT_ID, CLIENT_SECRET, FakeMarketo, error
from salesforce_fake import DATA, LOGIN_URL, PASSWORD, SECURITY_TOKEN, USERNAME, FakeSalesforce

from veeva_marketo_sync.clients.marketo import MarketoClient
from veeva_marketo_sync.clients.retry import RetryPolicy
from veeva_marketo_sync.clients.veeva import VeevaClient
from veeva_marketo_sync.errors import VmsyncError
from veeva_marketo_sync.settings import MarketoSettings, VeevaSettings


async def _no_sleep(_: float) -> None:
    return None


async def test_marketo_client_never_shows_the_secret_or_tokens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeMarketo()
    fake.script("/rest/v1/leads.json", error("602"), error("606"))
    config = MarketoSettings(base_url=BASE_URL, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    shown: list[str] = []
    async with MarketoClient(
        config, transport=fake.transport(), retry=RetryPolicy(attempts=2), sleep=_no_sleep
    ) as marketo:
        await marketo.sync_leads([{"email": "a@x.com"}], lookup_field="email")
        fake.script("/rest/v1/leads.json", error("601"), error("601"))
        with pytest.raises(VmsyncError) as caught:
            await marketo.sync_leads([{"email": "a@x.com"}], lookup_field="email")
        shown += [repr(marketo), str(marketo), str(caught.value), repr(caught.value)]
        shown += [repr(marketo.budget_status()), repr(config)]
    bad = MarketoSettings(base_url=BASE_URL, client_id=CLIENT_ID, client_secret="other-s3cret")
    async with MarketoClient(bad, transport=fake.transport()) as refused:
        with pytest.raises(VmsyncError) as refusal:
            await refused.describe_leads()
        shown += [str(refusal.value), repr(refused)]

    text = "\n".join([caplog.text, *shown])
    assert "identity/oauth/token" in caplog.text  # httpx did log the identity call...
    assert CLIENT_SECRET not in text  # ...without the secret
    assert "other-s3cret" not in text
    assert not [t for t in fake.valid_tokens | {"token-1:ab", "token-2:ab"} if t in text]


def test_veeva_client_never_shows_password_token_or_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    org = FakeSalesforce()
    org.route("GET", f"{DATA}query/", lambda _: (200, {"totalSize": 1, "done": True}))
    session = requests.Session()
    session.mount("https://", org)
    config = VeevaSettings(
        login_url=LOGIN_URL, username=USERNAME, password=PASSWORD, security_token=SECURITY_TOKEN
    )
    veeva = VeevaClient(config, session=session, sleep=lambda _: None)
    veeva.count("Account")
    org.expire_sessions()
    veeva.count("Account")
    wrong = VeevaClient(config.model_copy(update={"password": None}), session=session)
    shown = [repr(veeva), str(veeva), repr(config), repr(veeva._session)]
    try:
        wrong.count("Account")
    except VmsyncError as exc:
        shown += [str(exc), repr(exc)]

    text = "\n".join([caplog.text, *shown])
    assert "logging in again" in caplog.text
    for secret in (PASSWORD, SECURITY_TOKEN, *org.sessions):
        assert secret not in text
