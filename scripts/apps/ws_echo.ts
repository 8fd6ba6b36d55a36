// The WebSocket echo both servers run in the bench's ws-* scenarios: every message sent back as
// it came. The upgrade function is the server's own (rawserve's upgradeWebSocket or
// Deno.upgradeWebSocket), so the module is the same for both.

/** The upgrade both APIs share: a request in, a socket and the 101 to return out. */
export type Upgrade = (request: Request) => { socket: WebSocket; response: Response };

/** A handler that upgrades every request and echoes each message on its socket. */
export function echo(upgrade: Upgrade): (request: Request) => Response {
  return (request) => {
    const { socket, response } = upgrade(request);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  };
}
