// An app that calls fetch() for each request (an API behind it), at the URL in UPSTREAM: it
// needs net permission, which `deno task start` and the install command grant.
export default {
  async fetch(): Promise<Response> {
    const upstream = await fetch(Deno.env.get("UPSTREAM")!);
    return new Response(`upstream said: ${await upstream.text()}`);
  },
};
