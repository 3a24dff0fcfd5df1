"""Staff sign-in: who is asking, on every staff surface (see identity.py)."""
