"""The app factory. Its lifespan owns every client: broker, producer, consumers, HTTP client, store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from httpx_aiohttp import AiohttpTransport

from connectors import http_ingest
from hub import __version__
from hub.api import health, mailbox, operator
from hub.api.responses import OutcomeError, outcome_response
from hub.broker.clients import Publisher, consume_batches, make_consumer, make_producer
from hub.broker.embedded import EmbeddedBroker
from hub.broker.topics import Topics, ensure_topics
from hub.deliver.policy import RetryPolicy
from hub.deliver.worker import DeliveryWorker
from hub.domain.outcome import error
from hub.pipeline.ingress import IngressWorker
from hub.route.register import load_register
from hub.runtime import Runtime
from hub.settings import HubSettings
from hub.track.recorder import Recorder
from hub.track.store import TrackingStore
from hub.validate.validator import Validator

log = structlog.get_logger(__name__)


@asynccontextmanager
async def running_hub(settings: HubSettings) -> AsyncIterator[Runtime]:
    """Start everything the hub needs, yield it, and stop it all again in reverse order."""
    register = load_register(settings.register_file)
    async with AsyncExitStack() as stack:
        bootstrap = settings.kafka_bootstrap_servers
        if not bootstrap:
            broker = EmbeddedBroker()
            await broker.start()
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap_servers
        topics = Topics(settings.topic_prefix)
        await ensure_topics(bootstrap, topics, partitions=settings.topic_partitions)

        store = await TrackingStore.open(settings.database_url)
        stack.push_async_callback(store.close)

        producer = make_producer(bootstrap, max_request_size=settings.max_message_bytes + 64 * 1024)
        await producer.start()
        stack.push_async_callback(producer.stop)
        publisher = Publisher(producer)

        client = httpx.AsyncClient(
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=settings.delivery_concurrency)),
            timeout=httpx.Timeout(settings.delivery_timeout_seconds),
        )
        stack.push_async_callback(client.aclose)

        runtime = Runtime(
            settings=settings,
            register=register,
            store=store,
            publisher=publisher,
            topics=topics,
            validator=Validator(max_bytes=settings.max_message_bytes),
            bootstrap_servers=bootstrap,
        )
        handlers = {
            "ingress": (
                topics.ingress,
                IngressWorker(
                    validator=runtime.validator, register=register, publisher=publisher, topics=topics
                ).handle,
            ),
            "delivery": (
                topics.outbox,
                DeliveryWorker(
                    register=register,
                    store=store,
                    publisher=publisher,
                    topics=topics,
                    client=client,
                    policy=RetryPolicy(
                        base_delay=settings.delivery_base_delay_seconds,
                        max_delay=settings.delivery_max_delay_seconds,
                        retry_window=settings.delivery_retry_seconds,
                    ),
                ).handle,
            ),
            "recorder": (topics.events, Recorder(store).handle),
        }
        for name, (topic, handle) in handlers.items():
            consumer = make_consumer(
                bootstrap,
                topic,
                group_id=f"{settings.consumer_group}-{name}",
                session_timeout_ms=settings.consumer_session_timeout_ms,
            )
            await consumer.start()
            stack.push_async_callback(consumer.stop)
            task = asyncio.create_task(consume_batches(consumer, handle, name=name), name=f"hub-{name}")
            runtime.workers[name] = task
            stack.push_async_callback(_cancel, task)
        log.info("hub running", bootstrap_servers=bootstrap, organisations=len(register.organisations))
        yield runtime
        log.info("hub stopping")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: HubSettings | None = None) -> FastAPI:
    settings = settings or HubSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_hub(settings) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Sektor-hub",
        version=__version__,
        description="Validates, routes, delivers and tracks MedCom FHIR messages between Danish health sectors.",
        lifespan=lifespan,
    )
    app.include_router(http_ingest.router)
    app.include_router(operator.router)
    app.include_router(mailbox.router)
    app.include_router(health.router)

    @app.exception_handler(OutcomeError)
    async def _outcome(_: Request, exc: OutcomeError) -> Response:
        return outcome_response(exc.status_code, exc.issues, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_parameters(_: Request, exc: RequestValidationError) -> Response:
        issues = [
            error("invalid", ".".join(str(p) for p in err.get("loc", ())), str(err.get("msg", "invalid")))
            for err in exc.errors()
        ]
        return outcome_response(400, issues)

    return app
