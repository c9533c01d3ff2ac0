"""docs/openapi.json is generated from the routes; it must not go stale."""

from __future__ import annotations

import json

from local.template import ROOT
from tools.openapi import document


def test_openapi_document_is_up_to_date():
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == json.loads(document()), "docs/openapi.json is stale: run `make openapi`"


def test_openapi_document_describes_every_route_and_the_bearer_scheme():
    spec = json.loads(document())
    assert "bearer" in spec["components"]["securitySchemes"]
    assert set(spec["paths"]) == {
        "/auth/register", "/auth/login", "/auth/me", "/auth/logout", "/auth/password", "/rooms", "/rooms/join", "/rooms/{room_id}",
        "/rooms/{room_id}/invite", "/rooms/{room_id}/members", "/rooms/{room_id}/members/me",
        "/rooms/{room_id}/bot", "/rooms/{room_id}/messages", "/rooms/{room_id}/attachments",
        "/rooms/{room_id}/messages/{message_id}", "/rooms/{room_id}/messages/{message_id}/reactions/{emoji}",
        "/rooms/{room_id}/read", "/rooms/{room_id}/members/{username}", "/rooms/{room_id}/code",
        "/rooms/{room_id}/messages/{message_id}/stop",
        "/rooms/{room_id}/messages/{message_id}/regenerate", "/search", "/rooms/{room_id}/usage",
        "/mentions", "/rooms/{room_id}/notifications", "/push/key", "/push/subscriptions",
        "/rooms/{room_id}/bots", "/rooms/{room_id}/bots/{name}", "/rooms/{room_id}/summary",
    }  # fmt: skip
    assert "security" not in spec["paths"]["/auth/login"]["post"]
    assert spec["paths"]["/rooms/{room_id}/messages"]["get"]["security"] == [{"bearer": []}]
    search = spec["paths"]["/search"]["get"]
    assert search["security"] == [{"bearer": []}]
    assert {p["name"] for p in search["parameters"]} == {"q", "room_id", "limit", "before"}
