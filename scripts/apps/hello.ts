// Bench app: the smallest handler there is, the same module for rawserve (--app) and Deno.serve.
export default {
  fetch(): Response {
    return new Response("Hello, World!");
  },
};
