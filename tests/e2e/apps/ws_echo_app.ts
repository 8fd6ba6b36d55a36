// An --app that echoes every WebSocket message, through Deno.upgradeWebSocket (rawserve upgrades
// its own requests), and answers anything else with a line of text.
export default {
  fetch(request: Request): Response {
    if (request.headers.get("upgrade") !== "websocket") return new Response("websocket echo\n");
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  },
};
