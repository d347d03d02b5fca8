"""Participants, API keys, batches, resolution, anchors, alerts, health, metrics, /rpc."""

from __future__ import annotations

from urllib.parse import quote

from eth_account import Account

from api import create_app
from api.settings import ApiSettings
from node.events.identifiers import parse_identifier
from node.events.submission import submission_document
from node.events.typed_data import Action
from tests.api.conftest import AppClient, Rig

PROBLEM = "urn:tracenode:problem:"


def test_the_admin_registers_a_participant_on_chain_and_issues_it_a_key(rig: Rig) -> None:
    newcomer = Account.create()
    body = {"name": "Dairy Ünïcode", "address": newcomer.address, "roles": ["processor"]}

    refused = rig.client.post("/v1/participants", json=body, headers=rig.auth("farm"))
    created = rig.client.post("/v1/participants", json=body, headers=rig.auth("admin"))
    again = rig.client.post("/v1/participants", json=body, headers=rig.auth("admin"))
    by_address = rig.client.get(f"/v1/participants/{newcomer.address.lower()}")
    pid = created.json()["id"]
    by_id = rig.client.get(f"/v1/participants/{pid}")
    key = rig.client.post(
        "/v1/apikeys",
        json={"participant": newcomer.address, "label": "ops"},
        headers=rig.auth("admin"),
    )
    listed = rig.client.get("/v1/apikeys", headers=rig.auth("admin"))

    assert refused.status_code == 403
    assert refused.json()["type"] == PROBLEM + "forbidden"
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["processor"]
    assert created.json()["keys"][0]["address"] == newcomer.address
    assert again.status_code == 409
    assert again.json()["contractError"] == "ParticipantRegistryKeyInUse"
    assert by_address.json() == created.json() == by_id.json()
    assert key.status_code == 201
    token = key.json()["token"]
    assert token.startswith("tn_")
    assert key.json()["participantId"] == pid
    assert token not in listed.text
    assert key.json()["keyId"] in {k["keyId"] for k in listed.json()}
    with rig.node.store.read() as conn:
        stored = conn.exec_driver_sql("SELECT secret_hash FROM api_keys").fetchall()
    assert all(token.encode() not in bytes(row[0]) for row in stored)


def test_a_revoked_key_is_refused(rig: Rig) -> None:
    created = rig.client.post(
        "/v1/apikeys", json={"participant": str(rig.pids["shop"])}, headers=rig.auth("admin")
    ).json()
    _, document = rig.commission("farm")
    headers = {"Authorization": f"Bearer {created['token']}"}

    before = rig.client.post("/v1/events", json=document, headers=headers)
    revoked = rig.client.delete(f"/v1/apikeys/{created['keyId']}", headers=rig.auth("admin"))
    after = rig.client.post("/v1/events", json=document, headers=headers)

    assert before.status_code == 403  # the shop's key, the farm's event
    assert revoked.json()["revokedAt"] is not None
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]


def test_invalid_participant_bodies_name_the_field(rig: Rig) -> None:
    cases = [
        {"name": "", "address": Account.create().address, "roles": ["producer"]},
        {"name": "x", "address": "0x1234", "roles": ["producer"]},
        {"name": "x", "address": Account.create().address, "roles": ["wizard"]},
        {"name": "x", "address": Account.create().address, "roles": ["producer"], "extra": 1},
        {"name": "x\u0000y", "address": Account.create().address, "roles": ["producer"]},
        {"name": "é" * 40, "address": Account.create().address, "roles": ["producer"]},
    ]
    fields = []
    for body in cases:
        answer = rig.client.post("/v1/participants", json=body, headers=rig.auth("admin"))
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        fields.append(answer.json()["errors"][0]["field"])

    assert fields == [
        "body.name",
        "body.address",
        "body.roles.0",
        "body.extra",
        "body.name",
        "body.name",
    ]


def test_a_batch_by_every_spelling_and_its_lineage(rig: Rig) -> None:
    lot, document = rig.commission()
    rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
    identifier = parse_identifier(lot)
    gtin, lot_code = identifier.gtin, identifier.lot
    assert gtin is not None
    assert lot_code is not None
    spellings = [
        lot,
        quote(lot, safe=""),
        identifier.batch_id_hex,
        identifier.batch_id_hex.upper().replace("0X", "0x"),
        f"http://example.com/01/{gtin}/10/{lot_code}?17=271231",
        f"urn:epc:class:lgtin:{gtin[1:8]}.{gtin[0]}{gtin[8:13]}.{lot_code}",
    ]

    answers = [rig.client.get(f"/v1/batches/{s}") for s in spellings]
    missing = rig.client.get("/v1/batches/https://id.gs1.org/01/09506000134352/10/NOPE")
    invalid = rig.client.get("/v1/batches/https://id.gs1.org/01/09506000134353/10/BADCHECK")

    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    batch = answers[0].json()
    assert batch["status"] == "ACTIVE"
    assert batch["identifier"] == lot
    assert batch["producer"]["name"] == "farm"
    assert missing.status_code == 404
    assert missing.json()["type"] == PROBLEM + "batch-not-found"
    assert invalid.status_code == 422
    assert invalid.json()["type"] == PROBLEM + "invalid-identifier"


def test_digital_link_resolution_negotiates_json_linkset_and_html(rig: Rig) -> None:
    lot, document = rig.commission()
    rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
    path = lot.removeprefix("https://id.gs1.org")

    as_json = rig.client.get(path, headers={"Accept": "application/json"})
    linkset = rig.client.get(path, headers={"Accept": "application/linkset+json"})
    browser = rig.client.get(
        path + "?11=240101",
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    handle = rig.client.get(f"/v1/resolve/{quote(lot, safe='')}", headers={"Accept": "*/*"})
    unacceptable = rig.client.get(path, headers={"Accept": "image/png"})

    assert as_json.status_code == 200
    assert as_json.json()["identifier"] == lot
    assert 'rel="linkset"' in as_json.headers["link"]
    assert linkset.headers["content-type"] == "application/linkset+json"
    links = linkset.json()["linkset"][0]
    assert links["anchor"] == lot
    assert links["https://gs1.org/voc/defaultLink"][0]["href"].endswith(
        "/?id=" + quote(lot, safe="")
    )
    assert browser.status_code == 303
    assert browser.headers["location"] == "http://testserver/?id=" + quote(lot, safe="")
    assert handle.json() == as_json.json()
    assert unacceptable.status_code == 406


def test_anchors_page_back_through_windows(rig: Rig) -> None:
    for _ in range(3):
        _, document = rig.commission()
        rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
        rig.commit()

    first = rig.client.get("/v1/anchors?limit=2").json()
    second = rig.client.get(first["next"]).json()

    assert len(first["items"]) == 2
    ids = [a["windowId"] for a in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids)
    newest = first["items"][0]
    assert int(newest["lastSeq"]) == int(newest["firstSeq"]) + newest["eventCount"] - 1
    assert isinstance(newest["firstSeq"], str)  # uint64: a decimal string on the wire
    assert rig.client.get("/v1/anchors?limit=0").status_code == 422


def test_alerts_are_a_real_model_and_empty_without_a_monitor(rig: Rig) -> None:
    answer = rig.client.get("/v1/alerts?severity=high")

    assert answer.status_code == 200
    assert answer.json() == {"items": [], "next": None}
    assert rig.client.get("/v1/alerts?severity=dire").status_code == 422


def test_health_readiness_and_metrics(rig: Rig) -> None:
    _, document = rig.commission()
    rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))

    health = rig.client.get("/healthz")
    ready = rig.client.get("/readyz")
    metrics = rig.client.get("/metrics")

    assert health.json() == {"status": "ok"}
    assert ready.json()["status"] == "ready"
    assert ready.json()["chainHead"] == str(rig.node.w3.eth.block_number)
    text = metrics.text
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'tracenode_http_requests_total{method="POST",route="/v1/events",status="202"}' in text
    assert 'tracenode_events_submitted_total{outcome="accepted",problem=""}' in text
    assert "tracenode_commit_queue_depth" in text
    assert f"tracenode_chain_head_block {float(rig.node.w3.eth.block_number)}" in text


def test_rpc_serves_reads_and_refuses_writes(rig: Rig) -> None:
    def call(method: str, *params: object) -> dict[str, object]:
        body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
        answer = rig.client.post("/rpc", json=body)
        assert answer.status_code == 200
        result: dict[str, object] = answer.json()
        return result

    head = call("eth_blockNumber")["result"]
    block = call("eth_getBlockByNumber", head, False)["result"]
    code = call("eth_getCode", rig.node.deployment.anchor_registry, "latest")["result"]
    write = call("eth_sendRawTransaction", "0x02")
    sign = call("eth_sendTransaction", {"from": rig.node.config.node_address})
    own = [  # the embedded chain's in-process methods (node.chain.embedded)
        call("tracenode_getReceiptLogs", "0x" + "00" * 32),
        call("tracenode_getStorageMany", rig.node.deployment.anchor_registry, ["0x0"], 0),
    ]
    bad = call("eth_getBlockByNumber", "0xzz", False)
    wide = call("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(10**7)})
    # EIP-234: one block's logs by its hash (eth-tester takes none: once a TypeError).
    every = call("eth_getLogs", {"fromBlock": "0x0", "toBlock": head})["result"]
    assert isinstance(every, list)
    assert every
    logged = every[-1]
    hashed = call("eth_getLogs", {"blockHash": logged["blockHash"]})
    numbered = [log for log in every if log["blockHash"] == logged["blockHash"]]
    unknown = call("eth_getLogs", {"blockHash": "0x" + "ab" * 32})
    both = call("eth_getLogs", {"blockHash": block["hash"], "fromBlock": head})  # type: ignore[index]
    batch = rig.client.post(
        "/rpc", json=[{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(3)]
    ).json()

    assert call("eth_chainId")["result"] == hex(rig.node.deployment.chain_id)
    assert isinstance(block, dict)
    assert block["number"] == head
    assert isinstance(code, str)
    assert len(code) > 100
    assert write["error"] == {
        "code": -32601,
        "message": "eth_sendRawTransaction is not served (this endpoint is read-only)",
    }
    assert sign["error"]["code"] == -32601  # type: ignore[index]
    assert [answer["error"]["code"] for answer in own] == [-32601, -32601]  # type: ignore[index]
    assert bad["error"]["code"] == -32602  # type: ignore[index]
    assert wide["error"]["code"] == -32602  # type: ignore[index]
    assert hashed["result"] == numbered, hashed
    assert unknown["error"] == {"code": -32000, "message": "no block with that hash"}
    assert both["error"]["code"] == -32602  # type: ignore[index]
    assert [r["id"] for r in batch] == [0, 1, 2]


def test_rpc_runs_creation_code_in_eth_call_and_deploys_nothing(rig: Rig) -> None:
    # PUSH1 42, PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN: creation code that returns 42.
    # `tracenode verify --rpc` asks ReadMany's creation code many questions at once this way.
    code = "0x602a60005260206000f3"
    before = rig.node.w3.eth.block_number

    def call(params: object) -> dict[str, object]:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": params}
        answer: dict[str, object] = rig.client.post("/rpc", json=body).json()
        return answer

    created = call([{"data": code}, "latest"])
    nothing = call([{"from": rig.node.config.node_address}, "latest"])

    assert created["result"] == "0x" + (42).to_bytes(32, "big").hex()
    assert nothing["error"]["code"] == -32602  # type: ignore[index]
    assert rig.node.w3.eth.block_number == before


def test_rate_limit_per_key_answers_429_with_retry_after(rig: Rig) -> None:
    app = create_app(
        rig.node, settings=ApiSettings(rate_per_second=0.5, rate_burst=2), registrar=None
    )
    client = AppClient(app)
    try:
        farm = [client.get("/v1/info", headers=rig.auth("farm")) for _ in range(3)]
        shop = client.get("/v1/info", headers=rig.auth("shop"))
        anonymous = [client.get("/v1/info") for _ in range(3)]
        registrar = client.post(
            "/v1/participants",
            json={"name": "x", "address": Account.create().address, "roles": ["producer"]},
            headers=rig.auth("admin"),
        )
    finally:
        client.close()

    assert [r.status_code for r in farm] == [200, 200, 429]
    assert farm[2].json()["type"] == PROBLEM + "rate-limited"
    assert int(farm[2].headers["retry-after"]) >= 1
    assert shop.status_code == 200
    assert [r.status_code for r in anonymous] == [200, 200, 429]
    assert registrar.status_code == 503
    assert registrar.json()["type"] == PROBLEM + "registrar-unavailable"


def test_private_reads_need_a_key(rig: Rig) -> None:
    app = create_app(rig.node, settings=ApiSettings(public_reads=False))
    client = AppClient(app)
    try:
        anonymous = client.get("/v1/anchors")
        keyed = client.get("/v1/anchors", headers=rig.auth("shop"))
        info = client.get("/v1/info")
    finally:
        client.close()

    assert anonymous.status_code == 401
    assert keyed.status_code == 200
    assert info.status_code == 200  # what a signer needs stays public


def test_the_openapi_document_describes_problems_and_every_route(rig: Rig) -> None:
    schema = rig.client.get("/openapi.json").json()

    paths = schema["paths"]
    for path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/info",
        "/v1/participants",
        "/v1/participants/{address}",
        "/v1/events",
        "/v1/events/{hash}",
        "/v1/events/{hash}/proof",
        "/v1/batches/{id}",
        "/v1/anchors",
        "/v1/alerts",
        "/v1/resolve/{identifier}",
        "/01/{rest}",
        "/rpc",
    ):
        assert path in paths, path
    submit = paths["/v1/events"]["post"]
    assert submit["responses"]["403"]["content"]["application/problem+json"]
    assert submit["responses"]["422"]["content"]["application/problem+json"]
    body = submit["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    assert body["properties"]["event"]["required"][0] == "action"
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_the_openapi_document_checks_the_key_and_the_rate_as_every_route_does(rig: Rig) -> None:
    """docs/api.md: a request that carries a key must carry a valid one, on every route
    (FastAPI's own /openapi.json ran no dependency: 200 to any key, never rate-limited)."""
    bad = rig.client.get("/openapi.json", headers={"Authorization": "Bearer nope"})
    keyed = rig.client.get("/openapi.json", headers=rig.auth("shop"))
    app = create_app(rig.node, settings=ApiSettings(rate_per_second=0.5, rate_burst=2))
    client = AppClient(app)
    try:
        anonymous = [client.get("/openapi.json") for _ in range(3)]
    finally:
        client.close()

    assert bad.status_code == 401, bad.text
    assert bad.json()["type"] == PROBLEM + "unauthenticated"
    assert bad.headers["www-authenticate"].startswith("Bearer")
    assert keyed.status_code == 200
    assert "/v1/events" in keyed.json()["paths"]
    assert [r.status_code for r in anonymous] == [200, 200, 429]


def test_a_signed_event_built_with_compose_goes_through(rig: Rig) -> None:
    lot, document = rig.commission()
    rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
    batch_id = bytes(parse_identifier(lot).batch_id)
    head = bytes.fromhex(rig.client.get(f"/v1/batches/{lot}").json()["head"][2:])
    carrier = bytes.fromhex(rig.accounts["carrier"].address[2:])
    ship = rig.sign(
        "farm", Action.SHIP, batch_id=batch_id, prev_event_hash=head, counterparty=carrier
    )

    answer = rig.client.post("/v1/events", json=submission_document(ship), headers=rig.auth("farm"))

    assert answer.status_code == 202
    state = rig.client.get(f"/v1/batches/{lot}").json()
    assert state["status"] == "IN_TRANSIT"
    assert state["receiver"]["name"] == "carrier"


def test_request_bodies_are_not_coerced(rig: Rig) -> None:
    before = rig.client.get("/v1/apikeys", headers=rig.auth("admin")).json()

    answer = rig.client.post("/v1/apikeys", json={"admin": "yes"}, headers=rig.auth("admin"))

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body.admin"
    assert rig.client.get("/v1/apikeys", headers=rig.auth("admin")).json() == before
