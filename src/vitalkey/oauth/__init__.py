"""The OAuth 2.0 / OpenID Connect provider on Authlib's server core, and its Withings adapter."""
