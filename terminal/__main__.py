"""`make chat`: the terminal client, against the local stack or a deployed one.

python -m terminal                                  # the local stack (make dev)
python -m terminal --rest-url https://…/v1 --ws-url wss://…/v1
python -m terminal --username alice --register --room K7QX-2M9P
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from websockets.exceptions import InvalidStatus

from terminal.api import Api, ApiError
from terminal.client import ChatClient
from terminal.screen import Screen

DEFAULT_REST_URL = "http://127.0.0.1:3000"
DEFAULT_WS_URL = "ws://127.0.0.1:3001"


def sign_in(api: Api, args: argparse.Namespace, screen: Screen) -> str:
    """Register or log in (asking what is missing); sets api.token and returns the username."""
    interactive = sys.stdin.isatty()
    while True:
        register = args.register
        username = args.username
        if not username:
            if not interactive:
                raise SystemExit("error: --username is needed when the input is not a terminal")
            choice = input("(l)og in or (r)egister? [l] ").strip().lower()
            register = choice.startswith("r")
            username = input("username: ").strip()
        password = args.password or os.environ.get("CHAT_PASSWORD")
        if not password:
            if not interactive:
                raise SystemExit(
                    "error: --password or CHAT_PASSWORD is needed when the input is not a terminal"
                )
            password = getpass.getpass("password: ")
        body = {"username": username, "password": password}
        try:
            result = api.call("POST", "/auth/register" if register else "/auth/login", body)
        except ApiError as exc:
            screen.line(screen.paint(f"  ! {exc.message} ({exc.code})", "31"))
            if exc.code == "unreachable" or not interactive or args.username:
                raise SystemExit(1) from None
            continue
        api.token = result["access_token"]
        return str(result["user"]["username"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m terminal",
        description="A terminal client for the chat, against the local stack or a deployed one.",
    )
    parser.add_argument(
        "--rest-url",
        default=os.environ.get("CHAT_REST_URL", DEFAULT_REST_URL),
        help="REST API base URL [CHAT_REST_URL]",
    )
    parser.add_argument(
        "--ws-url",
        default=os.environ.get("CHAT_WS_URL", DEFAULT_WS_URL),
        help="WebSocket URL [CHAT_WS_URL]",
    )
    parser.add_argument("--username", "-u", help="log in (or register) as this user")
    parser.add_argument("--password", help="password (else CHAT_PASSWORD, else asked)")
    parser.add_argument("--register", action="store_true", help="create the account first")
    parser.add_argument(
        "--room",
        help="open this room at start: a room's code joins it, else its number, name or id",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    screen = Screen()
    api = Api(args.rest_url)
    client = ChatClient(api, args.ws_url.rstrip("/"), screen)
    try:
        client.session.username = sign_in(api, args, screen)
        try:
            client.run()
        except (OSError, InvalidStatus, TimeoutError) as exc:
            raise SystemExit(f"error: cannot open the WebSocket at {args.ws_url}: {exc}") from None
        if args.room:
            room = client.find_room(args.room)
            try:
                client.open(room or api.call("POST", "/rooms/join", {"code": args.room}))
            except ApiError as exc:
                screen.line(screen.paint(f"  ! {args.room}: {exc.message}", "31"))
        client.loop()
    except KeyboardInterrupt:
        pass
    except ApiError as exc:
        raise SystemExit(f"error: {exc.message} ({exc.code})") from None
    finally:
        client.close()


if __name__ == "__main__":
    main()
