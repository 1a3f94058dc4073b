"""Limits, faults and malformed requests against the Marketo emulator over HTTP."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from marketo_fixtures import (  # noqa: F401 - fixtures are found by name
    RunningMarketo,
    marketo_fixture,
    mc_fixture,
)
from marketorestpython.client import MarketoClient

pytestmark = pytest.mark.integration
DESCRIBE = "/rest/v1/leads/describe.json"


def _error(response: httpx.Response) -> str:
    body = response.json()
    assert body["success"] is False
    return str(body["errors"][0]["code"])


def test_the_101st_call_inside_20_seconds_gets_606(marketo: RunningMarketo) -> None:
    token = marketo.token()
    answers = [marketo.api("GET", DESCRIBE, token) for _ in range(101)]

    assert all(r.json()["success"] for r in answers[:100])
    assert answers[100].status_code == 200
    assert _error(answers[100]) == "606"


def test_marketorestpython_606_retry_loses_its_token(
    marketo: RunningMarketo, mc: MarketoClient
) -> None:
    # marketorestpython retries 606 with backoff, but HttpLib.get pops access_token from the
    # args dict on the first try, so the retry goes out with no token and gets 600 (fatal).
    # Our own client must carry the token itself and honour 606 with a wait.
    marketo.admin("POST", "limits", {"rate_calls": 1, "rate_window_seconds": 20})
    mc.execute(method="describe2")

    with pytest.raises(Exception) as excinfo:  # noqa: PT011 - the client raises bare Exception
        mc.execute(method="describe2")
    marketo.admin("POST", "counters/reset")  # also empties the rate window
    recovered = mc.execute(method="describe2")

    assert excinfo.value.args[0]["code"] == "600"
    assert recovered[0]["name"] == "API Lead"


def test_606_clears_when_the_window_slides(marketo: RunningMarketo) -> None:
    token = marketo.token()
    marketo.admin("POST", "limits", {"rate_calls": 2, "rate_window_seconds": 0.5})
    first = [marketo.api("GET", DESCRIBE, token) for _ in range(3)]
    deadline = time.monotonic() + 5
    while not (later := marketo.api("GET", DESCRIBE, token)).json()["success"]:
        assert time.monotonic() < deadline, "the rate window never slid"
        time.sleep(0.05)

    assert [r.json()["success"] for r in first] == [True, True, False]
    assert _error(first[2]) == "606"
    assert later.json()["success"] is True


def test_daily_quota_gives_607(marketo: RunningMarketo) -> None:
    token = marketo.token()
    marketo.admin("POST", "limits", {"daily_quota": 2})

    answers = [marketo.api("GET", DESCRIBE, token) for _ in range(3)]

    assert [r.json()["success"] for r in answers[:2]] == [True, True]
    assert _error(answers[2]) == "607"


def test_more_than_the_concurrency_limit_gets_615(marketo: RunningMarketo) -> None:
    token = marketo.token()
    marketo.admin("POST", "limits", {"max_concurrency": 2})
    marketo.admin("POST", "faults", {"path_pattern": "describe2", "count": 2, "hang_seconds": 2})
    slow: list[httpx.Response] = []
    threads = [
        threading.Thread(
            target=lambda: slow.append(marketo.api("GET", "/rest/v1/leads/describe2.json", token))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while marketo.admin("GET", "health")["in_flight"] < 2:
        assert time.monotonic() < deadline, "the hanging calls never arrived"
        time.sleep(0.02)

    third = marketo.api("GET", DESCRIBE, token)
    for thread in threads:
        thread.join()

    assert _error(third) == "615"
    assert [r.json()["success"] for r in slow] == [True, True]


def test_a_hanging_call_times_out_the_client(marketo: RunningMarketo) -> None:
    token = marketo.token()
    marketo.admin("POST", "faults", {"path_pattern": "describe", "hang_seconds": 1.5})

    with pytest.raises(httpx.ReadTimeout):
        marketo.api("GET", DESCRIBE, token, timeout=0.3)


def test_injected_http_500(marketo: RunningMarketo) -> None:
    token = marketo.token()
    marketo.admin("POST", "faults", {"path_pattern": "leads\\.json", "http_status": 500})

    failed = marketo.api("GET", "/rest/v1/leads.json", token)
    recovered = marketo.api(
        "GET", "/rest/v1/leads.json", token, params={"filterType": "email", "filterValues": "x@y.z"}
    )

    assert failed.status_code == 500
    assert _error(failed) == "611"
    assert recovered.json() == {**recovered.json(), "success": True, "result": []}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({}, "600"), ({"Authorization": "Bearer nope"}, "601")],
)
def test_missing_or_unknown_token(
    marketo: RunningMarketo, headers: dict[str, str], expected: str
) -> None:
    assert _error(marketo.http.get(DESCRIBE, headers=headers)) == expected


def test_deprecated_access_token_query_parameter_still_works(marketo: RunningMarketo) -> None:
    response = marketo.http.get(DESCRIBE, params={"access_token": marketo.token()})
    assert response.json()["success"] is True


def test_malformed_requests_get_envelopes_not_stack_traces(marketo: RunningMarketo) -> None:
    token = marketo.token()
    json_headers = {"Content-Type": "application/json"}

    bad_json = marketo.api("POST", "/rest/v1/leads.json", token, content=b"{", headers=json_headers)
    too_big = marketo.api(
        "POST", "/rest/v1/leads.json", token, content=b"x" * 1_100_000, headers=json_headers
    )
    too_long = marketo.api("GET", "/rest/v1/leads.json?filterValues=" + "a" * 9000, token)
    unknown = marketo.api("GET", "/rest/v1/nothing.json", token)
    wrong_verb = marketo.api("PUT", DESCRIBE, token)
    no_input = marketo.api("POST", "/rest/v1/leads.json", token, json={"action": "createOnly"})
    bad_action = marketo.api(
        "POST", "/rest/v1/leads.json", token, json={"action": "x", "input": [{}]}
    )

    assert _error(bad_json) == "609"
    assert (too_big.status_code, _error(too_big)) == (413, "413")
    assert (too_long.status_code, _error(too_long)) == (414, "414")
    assert (unknown.status_code, _error(unknown)) == (404, "610")
    assert _error(wrong_verb) == "605"
    assert _error(no_input) == "701"
    assert _error(bad_action) == "1003"
