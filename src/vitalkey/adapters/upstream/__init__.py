"""Sign-in with upstream providers (issue #23): one ``OidcUpstream`` per configured provider."""

from __future__ import annotations

from vitalkey.adapters.upstream.oidc import OidcUpstream
from vitalkey.ports import Clock
from vitalkey.settings import Settings


def upstream_providers(settings: Settings, clock: Clock) -> dict[str, OidcUpstream]:
    """The configured providers by id, in the configuration's order (the buttons' order)."""
    return {
        config.id: OidcUpstream(
            config,
            clock,
            leeway_s=settings.federation_leeway_s,
            jwks_min_refetch_s=settings.federation_jwks_min_refetch_s,
        )
        for config in settings.federation_providers
    }


__all__ = ["OidcUpstream", "upstream_providers"]
