"""Onboard a fresh Home Assistant through its REST API, optionally add Plex Butler.

``scripts/develop`` calls it so a developer can log in at once (user ``dev``,
password ``dev``) instead of clicking through onboarding after every wipe of
``config/``; with ``--add-entry`` it also adds the integration over the API,
which is the quick smoke test that the whole stack works. Safe to rerun:
finished onboarding steps are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import aiohttp


class OnboardError(Exception):
    """Home Assistant answered something this script cannot go on from."""


async def _json(response: aiohttp.ClientResponse) -> Any:
    if response.status >= 400:
        raise OnboardError(
            f"{response.method} {response.url.path} -> {response.status}: "
            f"{await response.text()}"
        )
    return await response.json()


async def _token(
    session: aiohttp.ClientSession, base: str, client_id: str, code: str
) -> str:
    """Trade an auth code for an access token, as the frontend does."""
    async with session.post(
        f"{base}/auth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": client_id},
    ) as response:
        token: str = (await _json(response))["access_token"]
    return token


async def _login(
    session: aiohttp.ClientSession, base: str, client_id: str, user: str, password: str
) -> str:
    """Log in with the homeassistant auth provider's login flow."""
    async with session.post(
        f"{base}/auth/login_flow",
        json={
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": f"{client_id}?auth_callback=1",
        },
    ) as response:
        flow = await _json(response)
    async with session.post(
        f"{base}/auth/login_flow/{flow['flow_id']}",
        json={"client_id": client_id, "username": user, "password": password},
    ) as response:
        result = await _json(response)
    if result.get("type") != "create_entry":
        raise OnboardError(f"login refused: {result}")
    return await _token(session, base, client_id, result["result"])


async def onboard(base: str, user: str, password: str) -> str:
    """Finish every onboarding step; return an access token for ``user``."""
    client_id = f"{base}/"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/onboarding") as response:
            # Once onboarding is over, Home Assistant no longer serves this view.
            if response.status == 404:
                done = {"user", "core_config", "analytics", "integration"}
            else:
                done = {s["step"] for s in await _json(response) if s["done"]}
        if "user" in done:
            token = await _login(session, base, client_id, user, password)
        else:
            async with session.post(
                f"{base}/api/onboarding/users",
                json={
                    "client_id": client_id,
                    "name": user.capitalize(),
                    "username": user,
                    "password": password,
                    "language": "en",
                },
            ) as response:
                code = (await _json(response))["auth_code"]
            token = await _token(session, base, client_id, code)
        headers = {"Authorization": f"Bearer {token}"}
        for step, body in (
            ("core_config", {}),
            ("analytics", {}),
            (
                "integration",
                {
                    "client_id": client_id,
                    "redirect_uri": f"{client_id}?auth_callback=1",
                },
            ),
        ):
            if step in done:
                continue
            async with session.post(
                f"{base}/api/onboarding/{step}", json=body, headers=headers
            ) as response:
                await _json(response)
    return token


async def add_entry(base: str, token: str, url: str, plex_token: str) -> str:
    """Run the user step of the config flow; return the new entry's title."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(
            f"{base}/api/config/config_entries/flow",
            json={"handler": "plex_butler", "show_advanced_options": False},
        ) as response:
            flow = await _json(response)
        async with session.post(
            f"{base}/api/config/config_entries/flow/{flow['flow_id']}",
            json={"url": url, "token": plex_token, "verify_ssl": True},
        ) as response:
            result = await _json(response)
    if result.get("type") != "create_entry":
        raise OnboardError(f"config flow did not create an entry: {result}")
    title: str = result["title"]
    return title


async def _main(args: argparse.Namespace) -> None:
    token = await onboard(args.url.rstrip("/"), args.user, args.password)
    print(f"onboarded {args.url} (user {args.user!r})")
    if args.add_entry:
        plex_url, plex_token = args.add_entry
        title = await add_entry(args.url.rstrip("/"), token, plex_url, plex_token)
        print(f"added Plex Butler entry {title!r} for {plex_url}")


def main() -> None:
    """Parse arguments and run; exit 1 with the server's answer on failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--user", default="dev")
    parser.add_argument("--password", default="dev")
    parser.add_argument(
        "--add-entry", nargs=2, metavar=("PLEX_URL", "PLEX_TOKEN"), default=None
    )
    try:
        asyncio.run(_main(parser.parse_args()))
    except (OnboardError, aiohttp.ClientError) as err:
        print(f"dev_onboard: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
