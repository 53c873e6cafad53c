"""The repositories of the unit of work, one module per aggregate, each with its own SQL."""
