"""Backends: plugins that run instances (processes, containers, pods)."""
