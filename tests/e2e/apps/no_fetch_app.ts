// Not an app: its default export has no fetch() (--app must refuse it in one line).
export default { handler: () => new Response("wrong shape") };
