"""The SDK stands alone: importing it loads none of the server's stack."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = "{'flask', 'sqlalchemy', 'numpy', 'scipy'}"


def test_importing_the_sdk_loads_no_server_dependency() -> None:
    script = (
        "import cartwise.sdk, sys; "
        f"assert not any(m.split('.')[0] in {HEAVY} for m in sys.modules), "
        f"sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY})"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_making_and_using_a_client_loads_no_server_dependency() -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys, httpx
        from cartwise.sdk import AsyncCartwiseClient, CartwiseClient

        down = httpx.MockTransport(lambda r: httpx.Response(503))
        with CartwiseClient("http://x", "k", defaults=["d"], transport=down) as c:
            assert c.recommend(["p"]).source == "fallback"

        async def main():
            async with AsyncCartwiseClient("http://x", "k", defaults=["d"], transport=down) as c:
                assert (await c.recommend(["p"])).source == "fallback"

        asyncio.run(main())
        assert not any(m.split(".")[0] in {HEAVY} for m in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_public_surface_is_sorted_and_resolves() -> None:
    import cartwise.sdk
    import cartwise.sdk.errors
    import cartwise.sdk.models

    for module in (cartwise.sdk, cartwise.sdk.errors, cartwise.sdk.models):
        assert module.__all__ == sorted(module.__all__)
        assert all(getattr(module, name) is not None for name in module.__all__)
    assert {"AsyncCartwiseClient", "CartwiseClient", "SdkError"} <= set(cartwise.sdk.__all__)


def test_every_sdk_error_is_a_cartwise_error() -> None:
    from cartwise.errors import CartwiseError
    from cartwise.sdk import errors

    codes = {getattr(errors, name).code for name in errors.__all__}
    assert len(codes) == len(errors.__all__)
    assert all(issubclass(getattr(errors, name), CartwiseError) for name in errors.__all__)
