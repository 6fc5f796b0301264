"""The outbound channel's HTTP adapter: a JSON POST to the configured gateway (SMS platform or
政务微信 relay). Real gateways are configured (NOTIFY_WEBHOOK_URL), not coded; this module owns
the one wire shape we send and turns HTTP failures into `notify.SendFailed`.
"""

from __future__ import annotations

import httpx

from evaluation_service.kernel.settings import Settings
from rectification.notify import LogSender, Message, Sender, SendFailed

TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class WebhookSender:
    """POSTs `{"id", "audience", "kind", "to", "name", "text", "ticket_id"}` with the header
    `Idempotency-Key: outbound-<id>`, so a gateway can drop the rare repeat (a message sent but
    not yet marked delivered when the worker died). 2xx is delivered; 408, 429 and 5xx or no
    answer are retried; any other 4xx is a refusal that no retry changes."""

    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.client = client or httpx.AsyncClient(timeout=TIMEOUT)

    async def send(self, message: Message) -> None:
        payload = {
            "id": message.id,
            "audience": message.audience,
            "kind": message.kind,
            "to": message.to,
            "name": message.name,
            "text": message.text,
            "ticket_id": message.ticket_id,
        }
        try:
            response = await self.client.post(
                self.url, json=payload, headers={"Idempotency-Key": f"outbound-{message.id}"}
            )
        except httpx.HTTPError as exc:
            raise SendFailed(f"gateway unreachable: {exc.__class__.__name__}") from None
        if response.is_success:
            return
        status = response.status_code
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise SendFailed(f"gateway answered {status}", permanent=permanent)

    async def close(self) -> None:
        await self.client.aclose()


def sender_from(settings: Settings) -> Sender | None:
    """The configured sender; None for NOTIFY_SENDER=none (rows then wait, nothing is sent)."""
    if settings.notify_sender == "webhook":
        return WebhookSender(settings.notify_webhook_url)
    if settings.notify_sender == "none":
        return None
    return LogSender()
