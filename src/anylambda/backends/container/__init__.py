"""What the container backends (``docker``, ``podman``) share: a support library, not a plugin.

It contributes no backend and registers no hook. A container backend subclasses
:class:`~anylambda.backends.container.backend.ContainerBackend` and implements
:class:`~anylambda.backends.container.engine.Engine` over its engine's SDK;
everything else is here, once:

- ``spec``: the engine-neutral, hardened description of an instance's container;
- ``labels``: the labels on everything created, and the filter that finds it again;
- ``network``: the host's address on a container network;
- ``pipe`` and ``frames``: the output FIFO, and the attach stream's framing;
- ``status``: how a container ended, in AWS's words;
- ``handle``: one running container (output, exit, removal);
- ``backend``: validate, prepare, launch, terminate, reap.

It imports nothing but ``anylambda.core`` (and no SDK).
"""
