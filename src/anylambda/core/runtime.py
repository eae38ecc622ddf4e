"""The facade: :class:`Runtime` manages functions and runs invocations on the selected backend.

It owns the task group everything runs in, the function catalog, the code
store, and the warm pool (whose decisions it carries out). Backends only
start, watch and stop instances; frontends only translate their wire format
to the methods below. Use it as a library::

    async with Runtime(Config(data_dir=path)) as rt:
        await rt.create_function("echo", FunctionSettings(runtime="python3.11",
                                 handler="app.handler"), zip_bytes)
        result = await rt.invoke(InvokeRequest("echo", b'{"hello": 1}'))
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
import attrs
import pluggy

from anylambda.core import pool as pool_actions
from anylambda.core.aliases import Aliases
from anylambda.core.arns import FunctionRef, parse_function_ref
from anylambda.core.catalog import Catalog, Entry
from anylambda.core.concurrency import Concurrency
from anylambda.core.config import Config
from anylambda.core.errors import (
    BackendError,
    ConfigurationError,
    InvalidParameterValueError,
    InvalidRequestContentError,
    LambdaError,
    LaunchError,
    RequestTooLargeError,
    ResourceConflictError,
    ServiceError,
    TooManyRequestsError,
    check_revision,
)
from anylambda.core.events import EventInvokeConfigs, EventQueue
from anylambda.core.events.destinations import LambdaDestination
from anylambda.core.instance import InstanceRecord
from anylambda.core.interfaces import Backend, Preparation
from anylambda.core.invocation import (
    FunctionFailure,
    Invocation,
    decode_client_context,
    timed_out,
)
from anylambda.core.lambda_env import lambda_environment
from anylambda.core.layers import Layers
from anylambda.core.models import (
    LATEST,
    MAX_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
    AccountSettings,
    CodeRef,
    ExitStatus,
    FunctionConfig,
    FunctionSettings,
    InvocationType,
    InvokeRequest,
    InvokeResult,
    LaunchSpec,
    RuntimeRecipe,
    aws_timestamp,
    check_function_name,
)
from anylambda.core.paging import page
from anylambda.core.pending import Preparations, check_invocable, check_settled
from anylambda.core.permissions import Permissions
from anylambda.core.plugins import Plugins, make_plugin_manager
from anylambda.core.pool import Pool
from anylambda.core.runtime_api import serve_runtime_api
from anylambda.core.store.blobs import BlobStore
from anylambda.core.store.documents import Documents
from anylambda.core.store.registry import Registry
from anylambda.core.tags import Tags, check_tags
from anylambda.core.urls import FunctionUrls
from anylambda.core.versions import same_snapshot
from anylambda.core.wire import listening_socket

logger = logging.getLogger("anylambda")

#: How often the pool is told the time (idle eviction, init timeouts).
TICK_SECONDS = 0.5


@attrs.frozen
class Prepared:
    """A deployment ready to launch: its function version, recipe and unpacked code."""

    function: FunctionConfig
    fingerprint: str
    recipe: RuntimeRecipe | None
    code_dir: Path
    layer_dirs: tuple[Path, ...]


class Runtime:
    """Functions, their warm instances, and invocations: the whole of anylambda minus the wire."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        plugins: Iterable[object] = (),
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self.config = config or Config()
        self.plugins = Plugins(plugin_manager or make_plugin_manager(extra=plugins))
        self.pool = Pool(
            account_limit=self.config.account_concurrency,
            idle_timeout=self.config.idle_timeout,
            init_timeout=self.config.init_timeout,
            launch_timeout=self.config.launch_timeout,
            pause_after=self.config.soft_idle_timeout,
            id_prefix=secrets.token_hex(4),
        )
        self.backend: Backend
        self.concurrency: Concurrency
        self.aliases: Aliases
        """Aliases of function versions (CreateAlias and the rest)."""
        """Reserved and provisioned concurrency of every function."""
        self.recipes: dict[str, RuntimeRecipe] = {}
        #: A function's tags (TagResource, UntagResource, ListTags).
        self.tags: Tags
        #: The resource policies of functions, versions and aliases (AddPermission...).
        self.permissions: Permissions
        #: Function URL configs, and the lookup that serves function URLs.
        self.urls: FunctionUrls
        #: Lambda layers: publish, list, delete, permissions (set when the runtime starts).
        self.layers: Layers
        #: Backends' slow preparations of functions (Pending until done).
        self.preparations: Preparations
        self._stack = AsyncExitStack()
        self._tg: anyio.abc.TaskGroup
        self._catalog: Catalog
        self.event_configs: EventInvokeConfigs
        """Event invoke configs: retries, maximum age and destinations of asynchronous calls."""
        self.events: EventQueue
        """The durable queue of asynchronous (``Event``) invocations."""
        self._blobs: BlobStore
        self._records: dict[str, InstanceRecord] = {}
        self._invocations: dict[str, Invocation] = {}
        self._prepared: dict[str, Prepared] = {}
        self._startup_locks: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)
        self._control = anyio.Lock()
        self._all_stopped = anyio.Event()
        self._closing = False

    # --- lifetime -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            with anyio.CancelScope(shield=True):
                await self._stop_everything()
                await self.plugins.shutdown(self)
                await self.backend.aclose()
            self._tg.cancel_scope.cancel()
        finally:
            # The body's own exception propagates as is, not wrapped by the task group.
            await self._stack.aclose()

    async def _start(self) -> None:
        config = self.config
        self.plugins.configure(config)
        backends = self.plugins.backends()
        if config.backend not in backends:
            raise ConfigurationError(
                f"Unknown backend {config.backend!r}; available: {', '.join(sorted(backends))}"
            )
        self.recipes = self.plugins.runtimes()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        registry = await anyio.to_thread.run_sync(Registry, config.data_dir / "registry.sqlite3")
        self._stack.callback(registry.close)
        self._blobs = BlobStore(config.data_dir)
        self._no_code_dir = config.data_dir / "no-code"
        self._no_code_dir.mkdir(exist_ok=True)
        self._catalog = Catalog(registry, config.region, config.account_id)
        await self._catalog.load()
        self.tags = Tags(registry, self._catalog)
        self.permissions = Permissions(registry, self._catalog)
        self.urls = FunctionUrls(registry, self._catalog, config.region)
        self.event_configs = EventInvokeConfigs(registry, self)
        for attached in self._attached():
            await attached.load()
        self.layers = Layers(
            Documents(registry, "layer"),
            self._blobs,
            self._control,
            region=config.region,
            account=config.account_id,
            store_code=self._store_code,
            discard_code=self._discard_code,
        )
        await self.layers.load()
        self.events = EventQueue(self, Documents(registry, "event"), self._run_event)
        await self.events.load()
        destination = LambdaDestination(self, self.events)
        self.plugins.manager.register(destination)
        self._stack.callback(self.plugins.manager.unregister, destination)
        self.backend = backends[config.backend](config)
        await self.backend.reap_stale()
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._tg.start_soon(self._tick)
        self.preparations = Preparations(self._catalog, self._control, self._tg, self._validate)
        self._tg.start_soon(self.preparations.resume)
        self.concurrency = Concurrency(
            registry, self._catalog, self.pool, self.apply, self._prepare
        )
        self.aliases = Aliases(
            self._catalog, self._control, self._resolve_latest, self._alias_changed
        )
        await self.concurrency.load()
        self._tg.start_soon(self.events.run)
        await self.plugins.startup(self)

    def begin_shutdown(self) -> None:
        """Refuse new invocations, fail the ones in flight, and stop every instance."""
        self._closing = True
        self.events.stop()
        self.apply(self.pool.on_shutdown())

    async def _stop_everything(self) -> None:
        self.begin_shutdown()
        with anyio.move_on_after(self.config.shutdown_grace):
            while self._records:
                self._all_stopped = anyio.Event()
                await self._all_stopped.wait()

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(TICK_SECONDS)
            self.apply(self.pool.on_tick(time.monotonic()))

    # --- functions ------------------------------------------------------------------------

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of a function, or of one of its versions."""
        return self._catalog.arn(name, qualifier)

    async def create_function(
        self,
        name: str,
        settings: FunctionSettings,
        zip_bytes: bytes,
        *,
        tags: Mapping[str, str] | None = None,
    ) -> FunctionConfig:
        """Create a function from a zip package (CreateFunction), with its ``tags``."""
        check_function_name(name)
        check_tags(tags or {})
        async with self._control:
            if self._catalog.exists(name):
                raise ResourceConflictError(f"Function already exist: {name}")
            layers = self.layers.attach(settings.layers)
            if settings.package_type == "Image":
                code = _image_code(settings.image_uri)
            else:
                code = await self._store_code(zip_bytes)
            config = _stamped(
                FunctionConfig(name=name, settings=settings, code=code, layers=layers)
            )
            try:
                config = await self.preparations.admit(config, await self._validate(config))
            except LambdaError:
                await self._discard_code(code)
                raise
            await self._catalog.put(config)
            if tags:
                await self.tags.tag_resource(self.function_arn(name), tags)
        return config

    async def get_function(
        self, function_name: str, qualifier: str | None = None
    ) -> FunctionConfig:
        """A function version by name, ``name:qualifier`` or ARN (GetFunction)."""
        return self._resolve(function_name, qualifier).config

    async def list_functions(
        self, marker: str | None = None, max_items: int | None = None, *, all_versions: bool = False
    ) -> tuple[list[FunctionConfig], str | None]:
        """One page of functions in name order, and the marker of the next page (ListFunctions).

        With ``all_versions`` (``FunctionVersion=ALL``) every version of every function is
        listed, ``$LATEST`` first; otherwise only ``$LATEST``.
        """
        if all_versions:
            functions = [entry.config for entry in self._catalog.all_entries()]
        else:
            functions = self._catalog.latest()
        return page(functions, _version_key, marker, max_items)

    async def update_function_code(
        self, function_name: str, zip_bytes: bytes, *, revision_id: str | None = None
    ) -> FunctionConfig:
        """Replace the code of ``$LATEST`` (UpdateFunctionCode)."""
        async with self._control:
            entry = self._resolve_latest(function_name, revision_id)
            check_settled(entry.config)
            code = await self._store_code(zip_bytes)
            return await self._replace(entry, attrs.evolve(entry.config, code=code))

    async def update_function_configuration(
        self, function_name: str, *, revision_id: str | None = None, **changes: Any
    ) -> FunctionConfig:
        """Change settings of ``$LATEST`` (UpdateFunctionConfiguration), if its RevisionId is
        ``revision_id`` when one is given."""
        async with self._control:
            entry = self._resolve_latest(function_name, revision_id)
            check_settled(entry.config)
            settings = attrs.evolve(entry.config.settings, **changes)
            layers = self.layers.attach(settings.layers, entry.config.layers)
            updated = attrs.evolve(entry.config, settings=settings, layers=layers)
            updated = await self.preparations.admit(updated, await self._validate(updated))
            return await self._replace(entry, updated)

    async def delete_function(self, function_name: str, qualifier: str | None = None) -> None:
        """Delete a function with all its versions, or one version (DeleteFunction)."""
        async with self._control:
            ref = parse_function_ref(function_name, qualifier)
            entry = self._catalog.resolve(ref)
            if ref.qualifier == LATEST:
                raise InvalidParameterValueError(
                    "$LATEST version cannot be deleted without deleting the function."
                )
            if ref.qualifier is not None:
                self._check_deletable_version(ref.name, ref.qualifier)
            for removed in await self._catalog.delete(entry.config.name, ref.qualifier):
                self._retire(removed.fingerprint)
            if ref.qualifier is None:
                await self.concurrency.forget(entry.config.name)
            else:
                await self.concurrency.refresh(entry.config.name)
            for attached in self._attached():
                await attached.drop(entry.config.name, ref.qualifier)

    # --- versions and aliases ------------------------------------------------------------

    async def publish_version(
        self,
        function_name: str,
        *,
        code_sha256: str | None = None,
        description: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionConfig:
        """Snapshot ``$LATEST`` as a new numbered version (PublishVersion).

        Returns the latest published version instead when neither code nor configuration
        changed since it was published. ``code_sha256`` is base64, as AWS reports it.
        """
        async with self._control:
            latest = self._resolve_latest(function_name, revision_id).config
            check_settled(latest)
            if code_sha256 is not None and code_sha256 != latest.code.base64_sha256:
                raise InvalidParameterValueError(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in "
                    f"$LATEST ({latest.code.base64_sha256}). Please try again with the "
                    "CodeSHA256 in $LATEST."
                )
            published = self._catalog.versions(latest.name)[1:]
            if published and same_snapshot(published[-1].config, latest):
                return published[-1].config
            settings = latest.settings
            if description is not None:
                settings = attrs.evolve(settings, description=description)
            number = self._catalog.last_version(latest.name) + 1
            version = _stamped(attrs.evolve(latest, version=str(number), settings=settings))
            await self._catalog.publish(version)
            return version

    async def list_versions(
        self, function_name: str, marker: str | None = None, max_items: int | None = None
    ) -> tuple[list[FunctionConfig], str | None]:
        """One page of a function's versions, ``$LATEST`` first (ListVersionsByFunction)."""
        name = self._resolve_latest(function_name).config.name
        versions = [entry.config for entry in self._catalog.versions(name)]
        return page(versions, lambda c: c.version, marker, max_items)

    async def _alias_changed(self, function: str, alias: str, deleted: bool) -> None:
        """What follows an alias's change: provisioned instances follow its version, and a
        deleted alias's policy and URL config go with it."""
        await self.concurrency.refresh(function)
        if deleted:
            for attached in self._attached():
                await attached.drop(function, alias)

    def _check_deletable_version(self, function: str, qualifier: str) -> None:
        if self._catalog.alias(function, qualifier) is not None:
            raise InvalidParameterValueError(
                "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias."
            )
        users = [a.name for a in self._catalog.aliases(function) if qualifier in a.versions()]
        if users:
            raise ResourceConflictError(
                "Unable to delete version because the following aliases reference it: "
                f"[{', '.join(users)}]"
            )

    def account_settings(self) -> AccountSettings:
        """Limits and usage (GetAccountSettings)."""
        entries = self._catalog.all_entries()
        return AccountSettings(
            concurrent_executions=self.config.account_concurrency,
            unreserved_concurrent_executions=self.pool.unreserved_limit(),
            function_count=len(self._catalog.latest()),
            total_code_size=sum(e.config.code.size for e in entries) + self.layers.code_size(),
        )

    def code_zip_path(self, config: FunctionConfig) -> Path:
        """Where the function version's zip is stored."""
        return self._blobs.path(config.code.sha256)

    async def _store_code(self, zip_bytes: bytes) -> CodeRef:
        code = await anyio.to_thread.run_sync(self._blobs.put, zip_bytes)
        try:
            await anyio.to_thread.run_sync(self._blobs.unpack, code.sha256)
        except LambdaError:
            await self._discard_code(code)
            raise
        return code

    async def _discard_code(self, code: CodeRef) -> None:
        """Remove a zip that no stored function version or layer version uses."""
        if (
            code.size
            and not self._catalog.uses_blob(code.sha256)
            and not self.layers.uses_blob(code.sha256)
        ):
            await anyio.to_thread.run_sync(self._blobs.remove, code.sha256)

    async def _validate(self, config: FunctionConfig) -> Preparation | None:
        """The backend's answer (``Backend.validate``) for a function the core accepts."""
        settings = config.settings
        recipe = None
        if settings.package_type == "Zip":
            if not settings.runtime or not settings.handler:
                raise InvalidParameterValueError(
                    "Runtime and Handler are mandatory parameters for functions created with "
                    "deployment packages."
                )
            recipe = self.recipes.get(settings.runtime)
            if recipe is None:
                raise InvalidParameterValueError(
                    f"The runtime parameter of {settings.runtime} is not supported by this server. "
                    f"Supported runtimes: {', '.join(sorted(self.recipes))}"
                )
        return await self.backend.validate(config, recipe)

    async def _replace(self, entry: Entry, updated: FunctionConfig) -> FunctionConfig:
        updated = _stamped(updated)
        new = await self._catalog.put(updated)
        if new.fingerprint != entry.fingerprint:
            self._retire(entry.fingerprint)
        return updated

    def _retire(self, fingerprint: str) -> None:
        self._prepared.pop(fingerprint, None)
        self.apply(self.pool.retire(fingerprint, time.monotonic()))

    def _resolve(self, function_name: str, qualifier: str | None) -> Entry:
        return self._catalog.resolve(parse_function_ref(function_name, qualifier))

    def _resolve_latest(self, function_name: str, revision_id: str | None = None) -> Entry:
        ref = parse_function_ref(function_name)
        if ref.qualifier not in (None, LATEST):
            raise InvalidParameterValueError(
                "Updating a function version or alias is not allowed; use the unqualified name."
            )
        entry = self._catalog.resolve(ref)
        check_revision(entry.config.revision_id, revision_id, "GetFunction/GetAlias")
        return entry

    def _attached(self) -> tuple[Tags | Permissions | FunctionUrls | EventInvokeConfigs, ...]:
        """What belongs to a function besides its versions: loaded at start, dropped with it."""
        return (self.tags, self.permissions, self.urls, self.event_configs)

    # --- invocations ----------------------------------------------------------------------

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        """Run one invocation (Invoke): wait for its result, or queue it (``Event``: the
        result, status 202, means it is stored and will be delivered at least once)."""
        asynchronous = request.invocation_type is InvocationType.EVENT
        limit = MAX_ASYNC_PAYLOAD if asynchronous else MAX_SYNC_PAYLOAD
        if len(request.payload) > limit:
            raise RequestTooLargeError(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )
        if self._closing:
            raise ServiceError("The server is shutting down.")
        _check_json(request.payload)
        client_context = decode_client_context(request.client_context)
        if not request.payload:
            request = attrs.evolve(request, payload=b"{}")  # AWS delivers {} when there is none
        ref = parse_function_ref(request.function_name, request.qualifier)
        entry = self._catalog.resolve(ref, draw=random.random())
        check_invocable(entry.config)
        version = entry.config.version
        if request.invocation_type is InvocationType.DRY_RUN:
            return InvokeResult(
                request_id=_request_id(request), status_code=204, executed_version=version
            )
        if asynchronous:
            event = await self.events.enqueue(
                ref.name,
                ref.qualifier,
                request.payload,
                request_id=_request_id(request),
                client_context=request.client_context,
            )
            return InvokeResult(
                request_id=event.request_id, status_code=202, executed_version=version
            )
        invocation, prepared = await self._admit(request, ref, entry, client_context)
        return await self._run(invocation, prepared, can_wait=False)

    async def _run_event(self, request: InvokeRequest, expires: float) -> InvokeResult:
        """One attempt of a queued event: it waits for capacity, until ``expires`` at most."""
        ref = parse_function_ref(request.function_name, request.qualifier)
        draw = random.random()
        entry = self._catalog.resolve(ref, draw=draw)
        client_context = decode_client_context(request.client_context)
        invocation, prepared = await self._admit(request, ref, entry, client_context)
        if self._catalog.resolve(ref, draw=draw).fingerprint != entry.fingerprint:
            # Changed or deleted while it was prepared: the queue tries it again, or drops it.
            raise ServiceError(_CHANGED)
        return await self._run(invocation, prepared, can_wait=True, expires=expires)

    async def _admit(
        self, request: InvokeRequest, ref: FunctionRef, entry: Entry, client_context: str | None
    ) -> tuple[Invocation, Prepared]:
        """The invocation of ``request``, and its deployment ready to launch."""
        prepared = await self._prepare(entry)
        arn = self.function_arn(ref.name, ref.qualifier)
        invocation = Invocation(
            _request_id(request), request, prepared.function, arn, client_context
        )
        return invocation, prepared

    async def _run(
        self,
        invocation: Invocation,
        prepared: Prepared,
        *,
        can_wait: bool,
        expires: float | None = None,
    ) -> InvokeResult:
        self._invocations[invocation.id] = invocation
        function = prepared.function
        try:
            self.apply(
                self.pool.on_invoke(
                    invocation.id,
                    function.name,
                    prepared.fingerprint,
                    time.monotonic(),
                    can_wait=can_wait,
                )
            )
            if invocation.throttled is not None:
                raise TooManyRequestsError("Rate Exceeded.", Reason=invocation.throttled)
            await self._await_result(invocation, can_wait=can_wait, expires=expires)
        finally:
            del self._invocations[invocation.id]
            if not invocation.finished:
                self.apply(self.pool.on_abandon(invocation.id))
        if invocation.aborted is not None:
            raise ServiceError(invocation.aborted)
        result = invocation.result(with_log=invocation.request.log_tail)
        duration = (time.monotonic() - invocation.started) * 1000
        self.plugins.invocation_finished(invocation.request, result, duration)
        return result

    async def _await_result(
        self, invocation: Invocation, *, can_wait: bool, expires: float | None
    ) -> None:
        # Waiting for delivery is bounded by the pool (launch and init timeouts) for synchronous
        # calls; the extra bound here only guards against a bookkeeping bug leaving one hanging.
        # One that can wait for capacity does so until it ``expires``, if ever.
        if can_wait:
            limit = None if expires is None else expires - time.monotonic()
        else:
            limit = self.config.launch_timeout + self.config.init_timeout + 5
        if not invocation.dispatched.is_set():  # else delivered at once, to an idle instance
            with anyio.move_on_after(limit):
                await invocation.dispatched.wait()
        if invocation.finished:
            return
        if invocation.delivered_at is None:
            self.apply(self.pool.on_abandon(invocation.id))
            if can_wait:
                invocation.abort("No capacity to run it before it expired.")
            else:
                invocation.fail_with(_INIT_TIMED_OUT)
            return
        timeout = invocation.function.settings.timeout
        with anyio.move_on_after(invocation.delivered_at + timeout - time.monotonic()):
            await invocation.done.wait()
        if not invocation.finished:
            invocation.fail_with(timed_out(timeout))
            self.apply(self.pool.on_timeout(invocation.id, time.monotonic()))

    async def _prepare(self, entry: Entry) -> Prepared:
        prepared = self._prepared.get(entry.fingerprint)
        if prepared is not None:
            return prepared
        async with self._startup_locks[entry.fingerprint]:
            prepared = self._prepared.get(entry.fingerprint)
            if prepared is not None:
                return prepared
            function = entry.config
            recipe = self.recipes.get(function.settings.runtime or "")
            if function.settings.package_type == "Image":
                code_dir = self._no_code_dir  # the image brings its code
            else:
                code_dir = await anyio.to_thread.run_sync(self._blobs.unpack, function.code.sha256)
            layer_dirs = []
            for layer in function.layers:
                layer_dirs.append(
                    await anyio.to_thread.run_sync(self._blobs.unpack, layer.code.sha256)
                )
            await self.backend.prepare(function, recipe)
            prepared = Prepared(function, entry.fingerprint, recipe, code_dir, tuple(layer_dirs))
            self._prepared[entry.fingerprint] = prepared
        self._startup_locks.pop(entry.fingerprint, None)
        return prepared

    # --- carrying out the pool's decisions ------------------------------------------------

    def apply(self, actions: list[pool_actions.Action]) -> None:
        """Carry out pool actions (synchronously; slow work is started as tasks)."""
        for action in actions:
            match action:
                case pool_actions.Deliver(invocation_id, instance_id):
                    self._records[instance_id].deliver(self._invocations[invocation_id])
                case pool_actions.Launch(instance_id, fingerprint):
                    record = InstanceRecord(instance_id, self.pool, self.apply)
                    self._records[instance_id] = record
                    self._tg.start_soon(self._run_instance, record, self._prepared[fingerprint])
                case pool_actions.Terminate(instance_id, reason):
                    record = self._records.get(instance_id)
                    if record is not None and record.stop_reason is None:
                        record.stop_reason = reason
                        if record.handle is not None:
                            self._tg.start_soon(self._terminate, record)
                        else:
                            record.launching.cancel()
                case pool_actions.Pause(instance_id) | pool_actions.Resume(instance_id):
                    record = self._records.get(instance_id)
                    if record is not None:
                        record.want_paused = isinstance(action, pool_actions.Pause)
                        self._tg.start_soon(self._sync_pause, record)
                case pool_actions.Fail(invocation_id, error):
                    invocation = self._invocations.get(invocation_id)
                    if invocation is not None:
                        _fail(invocation, error)
                case pool_actions.Throttle(invocation_id, reason):
                    self._invocations[invocation_id].throttled = reason

    async def _run_instance(self, record: InstanceRecord, prepared: Prepared) -> None:
        error: object = None
        try:
            with listening_socket(self.backend.runtime_api_host) as sock:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(serve_runtime_api, sock, record)
                    port = sock.getsockname()[1]
                    record.spec = self._launch_spec(record.id, prepared, port)
                    error = await self._launch_and_supervise(record)
                    tg.cancel_scope.cancel()
        except Exception as exc:
            # A plugin's bug must cost one instance, never the server.
            logger.exception("Instance %s failed", record.id)
            error = BackendError(f"Instance failed: {exc!r}")
        finally:
            del self._records[record.id]
            if not self._records:
                self._all_stopped.set()
            self.apply(self.pool.on_instance_exited(record.id, error, time.monotonic()))

    async def _launch_and_supervise(self, record: InstanceRecord) -> object:
        assert record.spec is not None
        try:
            with record.launching:
                record.handle = await self.backend.launch(record.spec)
        except LaunchError as exc:
            return FunctionFailure("Runtime.InvalidEntrypoint", str(exc))
        except BackendError as exc:
            logger.error("Backend could not launch %s: %s", record.id, exc.message)
            return exc
        if record.handle is None:
            return BackendError(f"Launch abandoned: {record.stop_reason}")
        self.apply(self.pool.on_up(record.id, time.monotonic()))
        self.plugins.instance_started(record.spec)
        try:
            if record.stop_reason is not None:
                self._tg.start_soon(self._terminate, record)
            status = await record.handle.supervise(record.on_output)
        except Exception:
            await self._terminate(record)
            raise
        finally:
            self.plugins.instance_stopped(record.spec, record.stop_reason or "exited")
        return _exit_failure(status)

    async def _sync_pause(self, record: InstanceRecord) -> None:
        """Bring the instance to the paused state the pool last asked for (one call at a time,
        so a resume never overtakes the pause it undoes)."""
        async with record.pause_lock:
            while record.handle is not None and record.stop_reason is None:
                wanted = record.want_paused
                if record.paused == wanted:
                    return
                try:
                    await (record.handle.pause() if wanted else record.handle.resume())
                except Exception:
                    logger.exception(
                        "Could not %s instance %s", "pause" if wanted else "resume", record.id
                    )
                    return
                record.paused = wanted

    async def _terminate(self, record: InstanceRecord) -> None:
        assert record.handle is not None
        with anyio.CancelScope(shield=True):
            try:
                await self.backend.terminate(record.handle)
            except Exception:
                logger.exception("Could not stop instance %s", record.id)

    def _launch_spec(self, instance_id: str, prepared: Prepared, port: int) -> LaunchSpec:
        function = prepared.function
        runtime_api = f"{self.backend.runtime_api_host}:{port}"
        own = self.plugins.resolve_environment(function, function.settings.environment)
        environment = lambda_environment(
            function,
            instance_id=instance_id,
            region=self.config.region,
            runtime_api=runtime_api,
            code_dir=prepared.code_dir,
            own=own,
        )
        spec = LaunchSpec(
            instance_id=instance_id,
            function=function,
            fingerprint=prepared.fingerprint,
            recipe=prepared.recipe,
            runtime_api=runtime_api,
            code_dir=prepared.code_dir,
            layer_dirs=prepared.layer_dirs,
            environment=environment,
            labels={"anylambda.instance": instance_id, "anylambda.function": function.name},
        )
        return self.plugins.launch_spec(spec)


_INIT_TIMED_OUT = FunctionFailure("Sandbox.Timedout", "Init phase timed out")
_CHANGED = "The function changed while the invocation waited; try again."


def _fail(invocation: Invocation, error: object) -> None:
    """End an invocation the pool failed; ``error`` is what the event that failed it carried."""
    if isinstance(error, FunctionFailure):
        invocation.fail_with(error)
    elif isinstance(error, BackendError):
        invocation.abort(error.message)
    elif error == pool_actions.SHUTDOWN:
        invocation.abort("The server is shutting down.")
    elif error == pool_actions.STALE:
        invocation.abort(_CHANGED)
    elif error == pool_actions.INIT_TIMEOUT:
        invocation.fail_with(_INIT_TIMED_OUT)
    elif error == pool_actions.LAUNCH_TIMEOUT:
        invocation.abort("The backend did not start an instance in time.")
    else:
        invocation.fail_with(FunctionFailure("Runtime.Unknown", f"Runtime failed: {error}"))


def _exit_failure(status: ExitStatus) -> FunctionFailure:
    return FunctionFailure("Runtime.ExitError", f"Runtime exited with error: {status.describe()}")


def _request_id(request: InvokeRequest) -> str:
    return request.request_id or str(uuid.uuid4())


def _check_json(payload: bytes) -> None:
    if not payload:
        return
    try:
        json.loads(payload, parse_int=str, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestContentError(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from exc


def _image_code(image_uri: str | None) -> CodeRef:
    """Image functions have no zip: their code is identified by the image reference."""
    if not image_uri:
        raise InvalidParameterValueError("ImageUri is required for PackageType Image.")
    return CodeRef(sha256=hashlib.sha256(image_uri.encode()).hexdigest(), size=0)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _stamped(config: FunctionConfig) -> FunctionConfig:
    """Set LastModified and a fresh RevisionId, as every change does on AWS."""
    return attrs.evolve(config, last_modified=aws_timestamp(), revision_id=_revision())


def _revision() -> str:
    return str(uuid.uuid4())


def _version_key(config: FunctionConfig) -> str:
    """A function version's paging key: its name, and its version when listing all."""
    return config.name if config.version == LATEST else f"{config.name}:{config.version}"
