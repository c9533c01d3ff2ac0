"""The REST side of the contract: one call, errors raised in the contract's shape."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Api:
    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=30)
        self.token: str | None = None

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self.http.request(
                method, path, json=body, headers=headers, params=params or None
            )
        except httpx.HTTPError as exc:
            raise ApiError(
                0, "unreachable", f"{self.http.base_url} is unreachable ({exc})"
            ) from exc
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            error = data.get("error") or {}
            message = error.get("message") or data.get("message") or response.reason_phrase
            details = "; ".join(
                f"{'.'.join(map(str, d.get('loc', [])[-1:]))} {d.get('msg', '')}".strip()
                for d in error.get("details") or []
            )
            raise ApiError(
                response.status_code,
                error.get("code", str(response.status_code)),
                f"{message} {details}".strip(),
            )
        return data
