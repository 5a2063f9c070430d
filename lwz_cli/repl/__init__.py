"""The interactive drafting REPL behind `lwz chat`."""
