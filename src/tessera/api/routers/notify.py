"""`/v1/notify`: channels, routes, the owner directory, deliveries, channel tests and the
digest. Policy paths are documented in `tessera.notify.service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from tessera.api.deps import PrincipalDep
from tessera.api.schemas_notify import (
    ChannelIn,
    ChannelListOut,
    ChannelOut,
    ChannelTestIn,
    DeliveryOut,
    DeliveryPageOut,
    DigestOut,
    EventOut,
    OwnerIn,
    OwnerListOut,
    OwnerOut,
    RouteIn,
    RouteListOut,
    RouteOut,
)
from tessera.core.durations import parse_duration
from tessera.core.errors import InvalidRequest
from tessera.core.paging import MAX_PAGE
from tessera.notify import (
    Channel,
    ChannelRequest,
    ChannelType,
    Delivery,
    DeliveryQuery,
    DeliveryState,
    EmailConfig,
    NotifyService,
    OwnerContact,
    Route,
    Severity,
    WebhookConfig,
)
from tessera.notify.models import ChannelConfig, check_name

router = APIRouter(prefix="/v1/notify", tags=["notify"])


async def notify_service(request: Request) -> NotifyService:
    svc: NotifyService = request.app.state.container.notify
    return svc


NotifyDep = Annotated[NotifyService, Depends(notify_service)]


def channel_out(ch: Channel) -> ChannelOut:
    return ChannelOut(
        name=ch.name, type=ch.type.value, enabled=ch.enabled, settings=dict(ch.display),
        created_at=ch.created_at, updated_at=ch.updated_at,
    )  # fmt: skip


def route_out(r: Route) -> RouteOut:
    return RouteOut(
        name=r.name, event_types=list(r.event_types), channels=list(r.channels),
        min_severity=r.min_severity.value, recipients=list(r.recipients),
        dedup_window_seconds=int(r.dedup_window.total_seconds()), enabled=r.enabled,
        created_at=r.created_at, updated_at=r.updated_at,
    )  # fmt: skip


def owner_out(o: OwnerContact) -> OwnerOut:
    return OwnerOut(owner=o.owner, email=o.email, slack_channel=o.slack_channel)


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id, channel=d.channel, route=d.route, recipient=d.recipient,
        event=EventOut.model_validate(d.event.to_json()), state=d.state.value,
        attempts=d.attempts, max_attempts=d.max_attempts, next_attempt_at=d.next_attempt_at,
        last_error=d.last_error, created_at=d.created_at, delivered_at=d.delivered_at,
    )  # fmt: skip


def channel_request(name: str, body: ChannelIn) -> ChannelRequest:
    try:
        kind = ChannelType(body.type)
    except ValueError:
        raise InvalidRequest("type must be webhook, slack or email") from None
    config: ChannelConfig
    if kind is ChannelType.EMAIL:
        if body.email is None or body.webhook is not None:
            raise InvalidRequest("an email channel takes `email` settings only")
        config = EmailConfig(**body.email.model_dump())
    else:
        if body.webhook is None or body.email is not None:
            raise InvalidRequest(f"a {kind.value} channel takes `webhook` settings only")
        config = WebhookConfig(**body.webhook.model_dump())
    return ChannelRequest(name, kind, config, body.enabled)


# -- channels --------------------------------------------------------------------------------
@router.get("/channels", response_model=ChannelListOut, summary="List channels")
def list_channels(p: PrincipalDep, n: NotifyDep) -> ChannelListOut:
    return ChannelListOut(items=[channel_out(ch) for ch in n.list_channels(p)])


@router.put("/channels/{name}", response_model=ChannelOut, summary="Create or replace a channel")
def put_channel(name: str, body: ChannelIn, p: PrincipalDep, n: NotifyDep) -> ChannelOut:
    return channel_out(n.put_channel(p, channel_request(name, body)))


@router.get("/channels/{name}", response_model=ChannelOut, summary="Show a channel")
def get_channel(name: str, p: PrincipalDep, n: NotifyDep) -> ChannelOut:
    return channel_out(n.get_channel(p, name))


@router.delete("/channels/{name}", status_code=204, summary="Delete a channel")
def delete_channel(name: str, p: PrincipalDep, n: NotifyDep) -> Response:
    n.delete_channel(p, name)
    return Response(status_code=204)


# -- routes ----------------------------------------------------------------------------------
@router.get("/routes", response_model=RouteListOut, summary="List routes")
def list_routes(p: PrincipalDep, n: NotifyDep) -> RouteListOut:
    return RouteListOut(items=[route_out(r) for r in n.list_routes(p)])


@router.put("/routes/{name}", response_model=RouteOut, summary="Create or replace a route")
def put_route(name: str, body: RouteIn, p: PrincipalDep, n: NotifyDep) -> RouteOut:
    route = Route(
        name=check_name(name, "route name"), event_types=tuple(body.event_types),
        channels=tuple(body.channels), min_severity=Severity.parse(body.min_severity),
        recipients=tuple(body.recipients),
        dedup_window=parse_duration(body.dedup_window, "dedup_window"), enabled=body.enabled,
    )  # fmt: skip
    return route_out(n.put_route(p, route))


@router.get("/routes/{name}", response_model=RouteOut, summary="Show a route")
def get_route(name: str, p: PrincipalDep, n: NotifyDep) -> RouteOut:
    return route_out(n.get_route(p, name))


@router.delete("/routes/{name}", status_code=204, summary="Delete a route")
def delete_route(name: str, p: PrincipalDep, n: NotifyDep) -> Response:
    n.delete_route(p, name)
    return Response(status_code=204)


# -- owners ----------------------------------------------------------------------------------
@router.get("/owners", response_model=OwnerListOut, summary="List the owner directory")
def list_owners(p: PrincipalDep, n: NotifyDep) -> OwnerListOut:
    return OwnerListOut(items=[owner_out(o) for o in n.list_owners(p)])


@router.put("/owners/{owner}", response_model=OwnerOut, summary="Set how an owner is reached")
def put_owner(owner: str, body: OwnerIn, p: PrincipalDep, n: NotifyDep) -> OwnerOut:
    contact = OwnerContact(owner, body.email, body.slack_channel)
    return owner_out(n.put_owner(p, contact))


@router.delete("/owners/{owner}", status_code=204, summary="Remove an owner entry")
def delete_owner(owner: str, p: PrincipalDep, n: NotifyDep) -> Response:
    n.delete_owner(p, owner)
    return Response(status_code=204)


# -- deliveries, tests, digest ---------------------------------------------------------------
@router.get("/deliveries", response_model=DeliveryPageOut, summary="List deliveries")
def list_deliveries(
    p: PrincipalDep,
    n: NotifyDep,
    state: Annotated[
        DeliveryState | None, Query(description="pending, sending, delivered or failed.")
    ] = None,
    channel: Annotated[str | None, Query(max_length=64, description="Only this channel.")] = None,
    limit: Annotated[int, Query(description=f"Page size, 1-{MAX_PAGE}.")] = 100,
    cursor: Annotated[str | None, Query(max_length=256, description="From next_cursor.")] = None,
) -> DeliveryPageOut:
    page = n.list_deliveries(p, DeliveryQuery(state, channel, limit, cursor))
    return DeliveryPageOut(
        items=[delivery_out(d) for d in page.items], next_cursor=page.next_cursor
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, summary="Show a delivery")
def get_delivery(delivery_id: str, p: PrincipalDep, n: NotifyDep) -> DeliveryOut:
    return delivery_out(n.get_delivery(p, delivery_id))


@router.post("/test/{channel}", response_model=DeliveryOut, summary="Send a test message now")
def test_channel(
    channel: str, p: PrincipalDep, n: NotifyDep, body: ChannelTestIn | None = None
) -> DeliveryOut:
    recipient = body.recipient if body is not None else None
    return delivery_out(n.test_channel(p, channel, recipient))


@router.post("/digest", response_model=DigestOut, summary="Send today's expiry digest now")
def digest(p: PrincipalDep, n: NotifyDep) -> DigestOut:
    r = n.request_digest(p)
    return DigestOut(
        day=r.day, ran=r.ran, owners=r.owners, deliveries=r.deliveries,
        skipped_reason=r.skipped_reason,
    )  # fmt: skip
