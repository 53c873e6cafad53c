"""Pure business rules: no framework, no SQL, no I/O. The clock is always passed in."""
