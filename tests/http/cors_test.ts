// CORS as a handler wrapper: `*`, a list of origins echoed with Vary: Origin, preflights answered
// for allowed origins only, other origins without an allow field, and async answers.

import assert from "node:assert/strict";
import { PREFLIGHT_MAX_AGE_S, withCors } from "../../http/cors.ts";
import type { Handler, HttpResponse } from "../../http/types.ts";
import { request } from "./static/_memory_fs.ts";

const site: Handler = (req) =>
  req.head.method === "OPTIONS"
    ? { status: 204, headers: ["Allow", "GET, HEAD"] }
    : { status: 200, headers: ["Content-Type", "text/plain"], body: "ok" };

function pairs(response: HttpResponse): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of response.headerList ?? []) (out[name] ??= []).push(value);
  return out;
}

Deno.test("withCors(*) allows every origin, with or without an Origin field", async () => {
  const handler = withCors(site, ["*"]);
  for (const headers of [[], ["origin", "https://a.example"]]) {
    const answer = await handler(request("GET", "/x", headers)) as HttpResponse;
    assert.equal(answer.status, 200);
    assert.deepEqual(pairs(answer)["Access-Control-Allow-Origin"], ["*"]);
    assert.equal(pairs(answer)["Vary"], undefined);
    assert.deepEqual(answer.headers, ["Content-Type", "text/plain"], "the site's fields are kept");
  }
  const pre = await handler(
    request("OPTIONS", "/x", [
      "origin",
      "https://a.example",
      "access-control-request-method",
      "GET",
      "access-control-request-headers",
      "range, x-trace",
    ]),
  ) as HttpResponse;
  assert.equal(pre.status, 204);
  assert.deepEqual(pairs(pre), {
    "Access-Control-Allow-Origin": ["*"],
    "Access-Control-Allow-Methods": ["GET, HEAD"],
    "Access-Control-Max-Age": [String(PREFLIGHT_MAX_AGE_S)],
    "Access-Control-Allow-Headers": ["range, x-trace"],
  });
});

Deno.test("withCors(list) echoes an allowed origin with Vary: Origin and gives others nothing", async () => {
  const handler = withCors(site, ["https://a.example", "http://localhost:5173"]);
  const allowed = await handler(request("GET", "/x", ["origin", "http://localhost:5173"])) as HttpResponse;
  assert.deepEqual(pairs(allowed)["Access-Control-Allow-Origin"], ["http://localhost:5173"]);
  assert.deepEqual(pairs(allowed)["Vary"], ["Origin"]);
  assert.match(pairs(allowed)["Access-Control-Expose-Headers"]![0]!, /Content-Range/);
  for (const headers of [["origin", "https://evil.example"], ["origin", "https://A.example"], []]) {
    const other = await handler(request("GET", "/x", headers)) as HttpResponse;
    assert.deepEqual(pairs(other), { Vary: ["Origin"] }, JSON.stringify(headers));
  }
  const refused = await handler(
    request("OPTIONS", "/x", ["origin", "https://evil.example", "access-control-request-method", "GET"]),
  ) as HttpResponse;
  assert.equal(refused.status, 204, "the site's own OPTIONS answer");
  assert.deepEqual(pairs(refused), { Vary: ["Origin"] });
  const pre = await handler(
    request("OPTIONS", "/x", [
      "origin",
      "https://a.example",
      "access-control-request-method",
      "PUT",
      "access-control-request-headers",
      "bad header\u0001",
    ]),
  ) as HttpResponse;
  assert.deepEqual(pairs(pre)["Access-Control-Allow-Origin"], ["https://a.example"]);
  assert.deepEqual(pairs(pre)["Access-Control-Allow-Methods"], ["GET, HEAD"], "PUT is not offered");
  assert.equal(pairs(pre)["Access-Control-Allow-Headers"], undefined, "a malformed list is not echoed");
  assert.deepEqual(pairs(pre)["Vary"], ["Origin"]);
});

Deno.test("withCors() adds its fields to async answers and keeps the handler's own header list", async () => {
  const async: Handler = () =>
    Promise.resolve({ status: 404, headers: [], headerList: [["Vary", "Accept"]] as [string, string][] });
  const answer = await withCors(async, ["https://a.example"])(
    request("GET", "/", ["origin", "https://a.example"]),
  );
  assert.deepEqual(answer.headerList?.map(([n, v]) => `${n}: ${v}`), [
    "Vary: Accept",
    "Access-Control-Allow-Origin: https://a.example",
    `Access-Control-Expose-Headers: ${pairs(answer)["Access-Control-Expose-Headers"]![0]}`,
    "Vary: Origin",
  ]);
});
