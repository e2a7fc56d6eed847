"""The app factory. Its lifespan owns every client: broker, producer, consumers, HTTP client, store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from fastapi import FastAPI

from connectors import http_ingest
from connectors.file_drop import FileDrop
from connectors.kafka_producer import ingress_publisher
from connectors.mllp import MllpListener
from hub import __version__
from hub.api import dead_letters, health, mailbox, metrics, operator
from hub.api import subscriptions as subscriptions_api
from hub.api.body_limit import BodyLimit
from hub.api.refusals import install_refusal_handlers
from hub.broker.clients import Publisher, consume_batches, consume_concurrently, make_consumer, make_producer
from hub.broker.embedded import EmbeddedBroker
from hub.broker.isolation import BatchHandler, Quarantine
from hub.broker.progress import WorkerProgress
from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics, ensure_topics
from hub.deliver.http_push import receiver_session
from hub.deliver.ledger import DeliveryLedger
from hub.deliver.overdue import AcknowledgementWatch
from hub.deliver.parking import DeadLetterStore, ParkingLot
from hub.deliver.policy import RetryPolicy
from hub.deliver.worker import DeliveryWorker
from hub.heap import settle_after_start
from hub.pipeline.ingress import IngressWorker
from hub.pipeline.recovery import BrokerWatch, replay_unfinished
from hub.route.patients import PatientRegister, load_patient_register
from hub.route.register import load_register
from hub.route.subscription_store import SubscriptionService, SubscriptionStore
from hub.route.subscriptions import seed_from_register_file
from hub.runtime import Runtime
from hub.settings import HubSettings
from hub.store.engine import open_database
from hub.ticks import ticks
from hub.track.archive import MessageArchive
from hub.track.recorder import Recorder
from hub.track.store import TrackingStore
from hub.validate.pool import InProcess, Validation, ValidationPool
from hub.validate.validator import Validator

log = structlog.get_logger(__name__)


@asynccontextmanager
async def running_hub(settings: HubSettings) -> AsyncIterator[Runtime]:
    """Start everything the hub needs, yield it, and stop it all again in reverse order.

    Stopping is graceful: intake stops first, workers finish or hand back what they hold (uncommitted
    records come back to the next reader; parked deliveries stay in the database), offsets are committed,
    then clients close.
    """
    register = load_register(settings.register_file)
    validator = Validator(max_bytes=settings.max_message_bytes)
    patients = (
        load_patient_register(settings.patient_register_file, register=register)
        if settings.patient_register_file
        else PatientRegister()
    )
    seeds = seed_from_register_file(settings.register_file, register=register, known_events=validator.event_codes)
    async with AsyncExitStack() as stack:
        bootstrap = settings.kafka_bootstrap_servers
        if not bootstrap:
            broker = EmbeddedBroker()
            await broker.start()
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap_servers
        topics = Topics(settings.topic_prefix)
        created = await ensure_topics(bootstrap, topics, partitions=settings.topic_partitions)

        engine = await open_database(settings.database_url)
        stack.push_async_callback(engine.dispose)
        store, archive, ledger = TrackingStore(engine), MessageArchive(engine), DeliveryLedger(engine)
        subscriptions = SubscriptionService(SubscriptionStore(engine), register, validator.event_codes, patients)
        await subscriptions.start(seeds)

        producer = make_producer(bootstrap, max_request_size=settings.max_message_bytes + 64 * 1024)
        await producer.start()
        stack.push_async_callback(producer.stop)
        publisher = Publisher(producer)

        client = receiver_session(
            max_connections=settings.delivery_concurrency, timeout_seconds=settings.delivery_timeout_seconds
        )
        stack.push_async_callback(client.close)

        progress = {name: WorkerProgress(name) for name in ("ingress", "delivery", "recorder")}
        delivery = DeliveryWorker(
            register=register,
            store=store,
            ledger=ledger,
            parking=ParkingLot(engine),
            dead_letters=DeadLetterStore(engine),
            publisher=publisher,
            topics=topics,
            client=client,
            policy=RetryPolicy(
                base_delay=settings.delivery_base_delay_seconds,
                max_delay=settings.delivery_max_delay_seconds,
                retry_window=settings.delivery_retry_seconds,
            ),
            progress=progress["delivery"],
        )
        stack.push_async_callback(lambda: delivery.close(timeout=settings.delivery_timeout_seconds + 1))
        runtime = Runtime(
            settings=settings,
            register=register,
            store=store,
            archive=archive,
            ledger=ledger,
            dead_letters=delivery.dead_letters,
            delivery=delivery,
            publisher=publisher,
            topics=topics,
            validator=validator,
            bootstrap_servers=bootstrap,
            subscriptions=subscriptions,
            progress=progress,
        )
        if topics.ingress in created:
            # a new (or emptied) broker: whatever was accepted and is unfinished must be published again
            await replay_unfinished(archive, publisher, topics)
        await delivery.resume_parked()

        validation: Validation = InProcess(validator)
        if settings.validation_workers:
            pool = ValidationPool(validator, processes=settings.validation_workers)
            await pool.start()
            stack.push_async_callback(pool.close)
            validation = pool
        ingress = IngressWorker(
            validation=validation,
            register=register,
            ledger=ledger,
            publisher=publisher,
            topics=topics,
            subscriptions=subscriptions.live,
        )
        recorder = Recorder(store)

        def in_batches(
            name: str, handle: BatchHandler, quarantine: Quarantine
        ) -> Callable[[AIOKafkaConsumer], Coroutine[Any, Any, None]]:
            return lambda c: consume_batches(
                c, handle, name=name, stop=runtime.stop, quarantine=quarantine, progress=progress[name]
            )

        workers: dict[str, tuple[str, Callable[[AIOKafkaConsumer], Coroutine[Any, Any, None]]]] = {
            # a record whose handling raises every time goes to the worker's quarantine (hub.broker.isolation)
            "ingress": (topics.ingress, in_batches("ingress", ingress.handle, ingress.quarantine)),
            "delivery": (
                topics.outbox,
                lambda c: consume_concurrently(
                    c,
                    _outbox_submitter(delivery),
                    name="delivery",
                    stop=runtime.stop,
                    grace_seconds=settings.shutdown_grace_seconds,
                    quarantine=delivery.quarantine,
                    progress=progress["delivery"],
                ),
            ),
            "recorder": (topics.events, in_batches("recorder", recorder.handle, recorder.quarantine)),
        }
        consumers: list[AIOKafkaConsumer] = []
        for name, (topic, run) in workers.items():
            consumer = make_consumer(
                bootstrap,
                topic,
                group_id=f"{settings.consumer_group}-{name}",
                session_timeout_ms=settings.consumer_session_timeout_ms,
            )
            await consumer.start()
            consumers.append(consumer)
            stack.push_async_callback(consumer.stop)
            runtime.workers[name] = asyncio.create_task(run(consumer), name=f"hub-{name}")
        watch = BrokerWatch(
            bootstrap_servers=bootstrap,
            topics=topics,
            partitions=settings.topic_partitions,
            archive=archive,
            publisher=publisher,
            on_lost=lambda: _rewind(consumers),
        )
        runtime.workers["broker-watch"] = asyncio.create_task(watch.run(runtime.stop), name="hub-broker-watch")
        acknowledgements = AcknowledgementWatch(
            store=store,
            archive=archive,
            publisher=publisher,
            topics=topics,
            timeout_seconds=settings.acknowledgement_timeout_seconds,
            redeliveries=settings.acknowledgement_redeliveries,
            interval=settings.acknowledgement_scan_seconds,
        )
        runtime.workers["acknowledgement-watch"] = asyncio.create_task(
            acknowledgements.run(runtime.stop), name="hub-acknowledgement-watch"
        )
        runtime.workers["subscription-refresh"] = asyncio.create_task(
            _refresh_subscriptions(subscriptions, runtime.stop, settings.subscription_refresh_seconds),
            name="hub-subscription-refresh",
        )
        _start_connectors(runtime, archive)
        stack.push_async_callback(_stop_workers, runtime)
        log.info("hub running", bootstrap_servers=bootstrap, organisations=len(register.organisations))
        yield runtime
        log.info("hub stopping")


def _outbox_submitter(delivery: DeliveryWorker) -> Callable[[ConsumerRecord[bytes, bytes], Callable[[], None]], None]:
    def submit(record: ConsumerRecord[bytes, bytes], done: Callable[[], None]) -> None:
        delivery.submit(OutboxRecord.from_kafka(record.key, record.value or b"", record.headers), done)

    return submit


def _start_connectors(runtime: Runtime, archive: MessageArchive) -> None:
    """MLLP and file drop, when configured: they publish like HTTP ingest (archived first, then the broker)."""
    settings, register = runtime.settings, runtime.register
    publish = ingress_publisher(
        runtime.publisher,
        runtime.topics.ingress,
        archive=archive,
        timeout=http_ingest.PUBLISH_TIMEOUT_SECONDS,
        accepting=lambda: runtime.accepting,
    )
    if settings.mllp_port is not None:
        mllp = MllpListener(
            host=settings.mllp_host or settings.host,
            port=settings.mllp_port,
            publish=publish,
            sender_for=register.by_sor,
            max_frame_bytes=settings.mllp_max_frame_bytes,
            grace_seconds=settings.shutdown_grace_seconds,
        )
        runtime.workers["mllp"] = asyncio.create_task(mllp.run(runtime.stop), name="hub-mllp")
    if settings.file_drop_dir is not None:
        drop = FileDrop(
            settings.file_drop_dir,
            publish=publish,
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
            app.state.runtime = runtime
            settle_after_start()
            yield

    app = FastAPI(
        title="Sektor-hub",
        version=__version__,
        description="Validates, routes, delivers and tracks MedCom FHIR messages between Danish health sectors.",
        lifespan=lifespan,
    )
    app.include_router(http_ingest.router)
    app.include_router(operator.router)
    app.include_router(subscriptions_api.router)
    app.include_router(dead_letters.router)
    app.include_router(mailbox.router)
    app.include_router(health.router)
    app.include_router(metrics.router)

    app.add_middleware(BodyLimit)  # the operator API's bodies; ingest counts its own
    install_refusal_handlers(app)  # every refusal an OperationOutcome, the framework's own 404 and 405 too
    return app
