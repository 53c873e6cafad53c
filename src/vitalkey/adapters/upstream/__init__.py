"""Sign-in with upstream providers (issue #23): one ``OidcUpstream`` per configured provider."""

from __future__ import annotations

from vitalkey.ports import Clock, UpstreamProvider
from vitalkey.settings import Settings


def upstream_providers(settings: Settings, clock: Clock) -> dict[str, UpstreamProvider]:
    """The configured providers by id, in the configuration's order (the buttons' order). The
    client (Authlib on httpx2, a few MB) loads only when a provider is configured: a server
    process stays within its memory budget (bench/RESULTS.md) without them."""
    if not settings.federation_providers:
        return {}
    from vitalkey.adapters.upstream.oidc import OidcUpstream  # noqa: PLC0415 - only with providers

    return {
        config.id: OidcUpstream(
            config,
            clock,
            leeway_s=settings.federation_leeway_s,
            jwks_min_refetch_s=settings.federation_jwks_min_refetch_s,
        )
        for config in settings.federation_providers
    }


__all__ = ["upstream_providers"]
