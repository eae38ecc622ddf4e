"""The core: everything that is true whatever the backend. Imports no plugin."""
