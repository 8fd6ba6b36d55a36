// An app whose handler throws on /boom (the server must count it as an error) and answers 503
// on /busy (a 5xx it chose: an error too); everything else is 200.
export default {
  fetch(request: Request): Response {
    const path = new URL(request.url).pathname;
    if (path === "/boom") throw new Error("the handler failed");
    if (path === "/busy") return new Response("busy", { status: 503 });
    return new Response("fine");
  },
};
