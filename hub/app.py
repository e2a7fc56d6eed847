"""The app factory. Its lifespan owns every client: broker, producer, consumers, HTTP client, store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.file_drop import FileDrop
from connectors.mllp import MllpListener
from connectors.mllp.directory import RegisterDirectory
from hub import __version__, console
from hub.api import audit_events, dead_letters, figures, health, mailbox, metrics, operator, process_message
from hub.api import fhir_subscriptions as fhir_subscriptions_api
from hub.api import read_audit as read_audit_api
from hub.api import subscription_events as subscription_events_api
from hub.api import subscriptions as subscriptions_api
from hub.api.body_limit import BodyLimit
from hub.api.deps import provide
from hub.api.refusals import install_refusal_handlers
from hub.broker.clients import Publisher, consume_batches, consume_concurrently, make_consumer, make_producer
from hub.broker.embedded import EmbeddedBroker
from hub.broker.isolation import BatchHandler, Quarantine
from hub.broker.progress import WorkerProgress
from hub.broker.topics import Topics, ensure_topics
from hub.deliver.http_push import receiver_session
from hub.deliver.ledger import DeliveryLedger
from hub.deliver.mailbox import Mailbox
from hub.deliver.overdue import AcknowledgementWatch
from hub.deliver.parking import DeadLetterStore, ParkingLot
from hub.deliver.policy import RetryPolicy
from hub.deliver.redrive import Redrive
from hub.deliver.rest_hook import RestHooks
from hub.deliver.subscription_events import SubscriptionEvents
from hub.deliver.worker import DeliveryWorker
from hub.heap import settle_after_start
from hub.pipeline.ingress import IngressWorker
from hub.pipeline.recovery import BrokerWatch, replay_unfinished
from hub.route.patients import PatientRegister, load_patient_register
from hub.route.register import Register, load_register
from hub.route.subscription import Subscription, seed_from_register_file
from hub.route.subscription_store import SubscriptionService, SubscriptionStore
from hub.runtime import Runtime
from hub.settings import HubSettings
from hub.store.engine import open_database
from hub.store.leases import Leases
from hub.store.purge import Purge, RetentionPurge
from hub.ticks import ticks
from hub.track.archive import MessageArchive
from hub.track.recorder import Recorder
from hub.track.store import TrackingStore
from hub.validate.pool import InProcess, Validation, ValidationPool
from hub.validate.validator import Validator

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Routing:
    """The register files, read before anything starts: a faulty file stops the hub at once."""

    register: Register
    validator: Validator
    patients: PatientRegister
    seeds: list[Subscription]


@dataclass(frozen=True, slots=True)
class _Broker:
    bootstrap: str
    topics: Topics
    created: list[str]  # the topics this start created (none when the broker had them all)


@dataclass(frozen=True, slots=True)
class _Stores:
    engine: AsyncEngine
    tracking: TrackingStore
    archive: MessageArchive
    ledger: DeliveryLedger
    subscriptions: SubscriptionService
    leases: Leases


@asynccontextmanager
async def running_hub(settings: HubSettings) -> AsyncIterator[Runtime]:
    """Start everything the hub needs, yield it, and stop it all again in reverse order.

    Stopping is graceful: intake stops first, workers finish or hand back what they hold (uncommitted
    records come back to the next reader; parked deliveries stay in the database), offsets are committed,
    then clients close.
    """
    routing = _read_routing(settings)
    async with AsyncExitStack() as stack:
        broker = await _open_broker(stack, settings)
        stores = await _open_stores(stack, settings, routing)
        runtime = await _build_workers(stack, settings, routing, stores, broker)
        if broker.topics.ingress in broker.created:
            # a new (or emptied) broker: whatever was accepted and is unfinished must be published again, before
            # anything new: no consumer runs yet, and no connector takes messages (HTTP only once this start is
            # over), so the replay is the first the new log holds, in acceptance order (hub.pipeline.recovery)
            await replay_unfinished(stores.archive, runtime.publisher, broker.topics)
        await runtime.delivery.resume_parked()
        validation = await _start_validation(stack, settings, routing.validator)
        consumers = await _start_consumers(stack, runtime, validation)
        _start_watches(runtime, consumers)
        _start_connectors(runtime)
        stack.push_async_callback(_stop_workers, runtime)
        log.info("hub running", bootstrap_servers=broker.bootstrap, organisations=len(routing.register.organisations))
        yield runtime
        log.info("hub stopping")


def _read_routing(settings: HubSettings) -> _Routing:
    register = load_register(settings.register_file)
    validator = Validator(max_bytes=settings.max_message_bytes)
    patients = (
        load_patient_register(settings.patient_register_file, register=register)
        if settings.patient_register_file
        else PatientRegister()
    )
    seeds = seed_from_register_file(settings.register_file, register=register, known_events=validator.event_codes)
    return _Routing(register, validator, patients, seeds)


async def _open_broker(stack: AsyncExitStack, settings: HubSettings) -> _Broker:
    """The configured Kafka, or an embedded broker when none is; the hub's topics created when missing."""
    bootstrap = settings.kafka_bootstrap_servers
    if not bootstrap:
        broker = EmbeddedBroker()
        await broker.start()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap_servers
    topics = Topics(settings.topic_prefix)
    created = await ensure_topics(bootstrap, topics, spec=settings.topic_spec)
    return _Broker(bootstrap, topics, created)


async def _open_stores(stack: AsyncExitStack, settings: HubSettings, routing: _Routing) -> _Stores:
    """The database and the stores over it; the register file's subscriptions stored and loaded."""
    engine = await open_database(settings.database_url, migrate_schema=settings.migrate_at_start)
    stack.push_async_callback(engine.dispose)
    subscriptions = SubscriptionService(
        SubscriptionStore(engine), routing.register, routing.validator.event_codes, routing.patients
    )
    await subscriptions.start(routing.seeds)
    return _Stores(
        engine, TrackingStore(engine), MessageArchive(engine), DeliveryLedger(engine), subscriptions, Leases(engine)
    )


async def _build_workers(
    stack: AsyncExitStack, settings: HubSettings, routing: _Routing, stores: _Stores, broker: _Broker
) -> Runtime:
    """The producer, the receivers' HTTP client, the delivery worker and the services the API uses, held
    together by the Runtime; each closed again when the hub stops."""
    producer = make_producer(broker.bootstrap, max_request_size=settings.max_message_bytes + 64 * 1024)
    await producer.start()
    stack.push_async_callback(producer.stop)
    publisher = Publisher(producer)

    client = receiver_session(
        max_connections=settings.delivery_concurrency, timeout_seconds=settings.delivery_timeout_seconds
    )
    stack.push_async_callback(client.close)

    progress = {name: WorkerProgress(name) for name in ("ingress", "delivery", "recorder")}
    rest_hooks = RestHooks(
        session=client,
        subscriptions=stores.subscriptions.store,
        events=SubscriptionEvents(stores.engine),
        base_url=settings.base_url,
        timeout_seconds=settings.delivery_timeout_seconds,
    )
    stores.subscriptions.handshake = rest_hooks.handshake  # a rest-hook is activated once its endpoint answers
    delivery = DeliveryWorker(
        register=routing.register,
        store=stores.tracking,
        ledger=stores.ledger,
        parking=ParkingLot(stores.engine),
        dead_letters=DeadLetterStore(stores.engine),
        publisher=publisher,
        topics=broker.topics,
        client=client,
        policy=RetryPolicy(
            base_delay=settings.delivery_base_delay_seconds,
            max_delay=settings.delivery_max_delay_seconds,
            retry_window=settings.delivery_retry_seconds,
        ),
        progress=progress["delivery"],
        leases=stores.leases,
        drain_lease_seconds=max(30.0, 3 * settings.delivery_timeout_seconds),
        rest_hooks=rest_hooks,
    )
    stack.push_async_callback(lambda: delivery.close(timeout=settings.delivery_timeout_seconds + 1))
    return Runtime(
        settings=settings,
        register=routing.register,
        store=stores.tracking,
        archive=stores.archive,
        ledger=stores.ledger,
        dead_letters=delivery.dead_letters,
        delivery=delivery,
        publisher=publisher,
        topics=broker.topics,
        validator=routing.validator,
        bootstrap_servers=broker.bootstrap,
        subscriptions=stores.subscriptions,
        mailbox=Mailbox(stores.tracking.mailbox, publisher, broker.topics),
        redrive=Redrive(delivery.dead_letters, publisher, broker.topics),
        leases=stores.leases,
        progress=progress,
        rest_hooks=rest_hooks,
    )


async def _start_validation(stack: AsyncExitStack, settings: HubSettings, validator: Validator) -> Validation:
    """Validation in this process, or in a pool of ``validation_workers`` processes when configured."""
    if not settings.validation_workers:
        return InProcess(validator)
    pool = ValidationPool(validator, processes=settings.validation_workers)
    await pool.start()
    stack.push_async_callback(pool.close)
    return pool


async def _start_consumers(stack: AsyncExitStack, runtime: Runtime, validation: Validation) -> list[AIOKafkaConsumer]:
    """One consumer and one task per worker that reads the broker: ingress, delivery, recorder."""
    settings, topics, progress = runtime.settings, runtime.topics, runtime.progress
    ingress = IngressWorker(
        validation=validation,
        register=runtime.register,
        ledger=runtime.ledger,
        publisher=runtime.publisher,
        topics=topics,
        subscriptions=runtime.subscriptions.live,
        archive=runtime.archive,
    )
    recorder = Recorder(runtime.store)

    def in_batches(
        name: str, handle: BatchHandler, quarantine: Quarantine
    ) -> Callable[[AIOKafkaConsumer], Coroutine[Any, Any, None]]:
        return lambda c: consume_batches(
            c, handle, name=name, stop=runtime.stop, quarantine=quarantine, progress=progress[name]
        )

    workers: dict[str, tuple[str, Callable[[AIOKafkaConsumer], Coroutine[Any, Any, None]]]] = {
        # a record whose handling raises every time goes to the worker's quarantine (hub.broker.isolation)
        # behind the fence of a recovery from a lost broker log: no copy overtakes the replay (hub.pipeline.fence)
        "ingress": (
            topics.ingress,
            in_batches("ingress", runtime.recovery.guard_ingress(ingress.handle), ingress.quarantine),
        ),
        "delivery": (
            topics.outbox,
            lambda c: consume_concurrently(
                c,
                runtime.recovery.guard_delivery(runtime.delivery.take),
                name="delivery",
                stop=runtime.stop,
                grace_seconds=settings.shutdown_grace_seconds,
                quarantine=runtime.delivery.quarantine,
                progress=progress["delivery"],
            ),
        ),
        "recorder": (topics.events, in_batches("recorder", recorder.handle, recorder.quarantine)),
    }
    consumers: list[AIOKafkaConsumer] = []
    for name, (topic, run) in workers.items():
        consumer = make_consumer(
            runtime.bootstrap_servers,
            topic,
            group_id=f"{settings.consumer_group}-{name}",
            session_timeout_ms=settings.consumer_session_timeout_ms,
        )
        await consumer.start()
        consumers.append(consumer)
        runtime.consumers[f"{settings.consumer_group}-{name}"] = consumer  # their lag, at each scrape
        stack.push_async_callback(consumer.stop)
        runtime.workers[name] = asyncio.create_task(run(consumer), name=f"hub-{name}")
    return consumers


def _start_watches(runtime: Runtime, consumers: list[AIOKafkaConsumer]) -> None:
    """The tasks that look around on a timer: a lost broker, overdue acknowledgements, data past its retention,
    other processes' subscription changes. Those that change shared rows run in one process at a time, the
    holder of their lease."""
    settings = runtime.settings
    watch = BrokerWatch(
        bootstrap_servers=runtime.bootstrap_servers,
        topics=runtime.topics,
        spec=settings.topic_spec,
        archive=runtime.archive,
        publisher=runtime.publisher,
        recovery=runtime.recovery,  # holds the intake and fences the workers while it replays
        on_lost=lambda: _rewind(consumers),
    )
    runtime.workers["broker-watch"] = asyncio.create_task(watch.run(runtime.stop), name="hub-broker-watch")
    acknowledgements = AcknowledgementWatch(
        store=runtime.store,
        archive=runtime.archive,
        publisher=runtime.publisher,
        topics=runtime.topics,
        timeout_seconds=settings.acknowledgement_timeout_seconds,
        redeliveries=settings.acknowledgement_redeliveries,
        interval=settings.acknowledgement_scan_seconds,
        leases=runtime.leases,
        register=runtime.register,
        subscription_events=runtime.rest_hooks.events,
    )
    runtime.workers["acknowledgement-watch"] = asyncio.create_task(
        acknowledgements.run(runtime.stop), name="hub-acknowledgement-watch"
    )
    purge = RetentionPurge(
        Purge(runtime.store.engine, settings.retention_policy), runtime.leases, interval=settings.retention_scan_seconds
    )
    runtime.workers["retention-purge"] = asyncio.create_task(purge.run(runtime.stop), name="hub-retention-purge")
    runtime.workers["rest-hook-heartbeats"] = asyncio.create_task(
        runtime.rest_hooks.run_heartbeats(
            runtime.stop, interval=settings.heartbeat_scan_seconds, leases=runtime.leases
        ),
        name="hub-rest-hook-heartbeats",
    )
    runtime.workers["subscription-refresh"] = asyncio.create_task(
        _refresh_subscriptions(runtime.subscriptions, runtime.stop, settings.subscription_refresh_seconds),
        name="hub-subscription-refresh",
    )


def _start_connectors(runtime: Runtime) -> None:
    """MLLP and file drop, when configured: they publish like HTTP ingest (archived first, then the broker)."""
    settings, register = runtime.settings, runtime.register
    intake = runtime.intake()
    if settings.mllp_port is not None:
        mllp = MllpListener(
            host=settings.mllp_host or settings.host,
            port=settings.mllp_port,
            intake=intake,
            directory=RegisterDirectory(register, runtime.subscriptions.live.patients),
            max_frame_bytes=settings.mllp_max_frame_bytes,
            grace_seconds=settings.shutdown_grace_seconds,
        )
        runtime.workers["mllp"] = asyncio.create_task(mllp.run(runtime.stop), name="hub-mllp")
    if settings.file_drop_dir is not None:
        drop = FileDrop(
            settings.file_drop_dir,
            intake=intake,
            sender_for=lambda name: register.by_id(name) or register.by_sor(name),
            poll_interval=settings.file_drop_poll_seconds,
            max_bytes=settings.max_message_bytes,
        )
        runtime.workers["file-drop"] = asyncio.create_task(drop.run(runtime.stop), name="hub-file-drop")


async def _refresh_subscriptions(service: SubscriptionService, stop: asyncio.Event, interval: float) -> None:
    """Pick up subscriptions another hub process created, paused or deleted (this process's own are immediate)."""
    async for _ in ticks(interval, stop):
        try:
            await service.reload_if_changed()
        except Exception as exc:  # a database hiccup must not stop the worker; the old index stays
            log.warning("subscriptions not refreshed", error=type(exc).__name__)


async def _rewind(consumers: list[AIOKafkaConsumer]) -> None:
    for consumer in consumers:
        if consumer.assignment():
            await consumer.seek_to_beginning()


async def _stop_workers(runtime: Runtime) -> None:
    """Ask every worker to finish its current work and commit; cancel those that do not in time."""
    runtime.accepting = False
    runtime.delivery.begin_closing()
    runtime.stop.set()
    tasks = list(runtime.workers.values())
    _, late = await asyncio.wait(tasks, timeout=runtime.settings.shutdown_grace_seconds + 5)
    for task in late:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: HubSettings | None = None) -> FastAPI:
    settings = settings or HubSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_hub(settings) as runtime:
            provide(app.state, runtime)  # each route takes only the services it uses (hub.api.deps)
            settle_after_start()
            yield

    app = FastAPI(
        title="Sektor-hub",
        version=__version__,
        description="Validates, routes, delivers and tracks MedCom FHIR messages between Danish health sectors.",
        lifespan=lifespan,
    )
    app.include_router(process_message.router)
    app.include_router(operator.router)
    app.include_router(audit_events.router)
    app.include_router(read_audit_api.router)
    app.include_router(figures.router)
    app.include_router(subscriptions_api.router)
    app.include_router(fhir_subscriptions_api.router)
    app.include_router(subscription_events_api.router)
    app.include_router(dead_letters.router)
    app.include_router(mailbox.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    console.install(app)  # the operator web console at /console (routes, static files, GET / -> /console)

    app.add_middleware(BodyLimit)  # the operator API's bodies; ingest counts its own
    install_refusal_handlers(app)  # every refusal an OperationOutcome, the framework's own 404 and 405 too
    return app
