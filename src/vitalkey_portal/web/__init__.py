"""The portal's pages (Starlette, Jinja2)."""
