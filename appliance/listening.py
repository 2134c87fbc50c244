"""Opening a listening endpoint, with a failure that names the configuration key."""

from __future__ import annotations

from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint


class ListenFailed(Exception):
    """An address from the configuration could not be listened on; the message names the
    key, the address and why (e.g. `[admin] listen = 127.0.0.1:8444: address already in use
    ...`)."""


async def listen(key: str, address: str, endpoint: IStreamServerEndpoint,
                 factory: IProtocolFactory) -> IListeningPort:
    """`endpoint.listen(factory)`; a CannotListenError becomes ListenFailed naming `key`."""
    try:
        return await endpoint.listen(factory)
    except CannotListenError as e:
        error = e.socketError
        reason = (getattr(error, "strerror", None) or str(error)).lower()
        hint = (" (another program, or another appliance server, has it: stop it or choose "
                f"another address for {key})" if "in use" in reason else "")
        raise ListenFailed(f"{key} = {address}: {reason}{hint}") from None
