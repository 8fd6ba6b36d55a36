// Deno.upgradeWebSocket while rawserve serves: frameworks written for Deno (Hono's `hono/deno`
// among them) call Deno's function, not rawserve's, on the requests rawserve gives them. While a
// rawserve server that runs a fetch handler is up, Deno.upgradeWebSocket is a function that
// upgrades the requests rawserve made (websocket.ts) and passes every other request, unchanged, to
// Deno's own (a Deno.serve in the same process keeps working). The last server to stop puts Deno's
// function back. This is the only place rawserve changes a global.

import { isRawserveRequest, upgradeWebSocket } from "./websocket.ts";

type DenoUpgrade = typeof Deno.upgradeWebSocket;

/** Servers running now; Deno's function is replaced while there is one. */
let installs = 0;
/** Deno's own function, while replaced. */
let original: DenoUpgrade | null = null;
/** The function installed, to put Deno's back only if no one replaced ours since. */
let installed: DenoUpgrade | null = null;

/**
 * Replaces Deno.upgradeWebSocket for as long as the returned handle is not disposed (counted:
 * every server takes one).
 * @returns a handle whose disposal gives the global back once no server holds one
 * @example
 * ```ts
 * import { takeDenoUpgrade } from "./deno_upgrade.ts";
 * using _upgrades = takeDenoUpgrade();
 * ```
 */
export function takeDenoUpgrade(): Disposable {
  if (installs++ === 0) {
    const deno = Deno.upgradeWebSocket;
    original = deno;
    installed = function upgradeWebSocketOnRawserve(request, options) {
      if (!isRawserveRequest(request)) return deno(request, options);
      return upgradeWebSocket(request, options) as Deno.WebSocketUpgrade;
    };
    Deno.upgradeWebSocket = installed;
  }
  let held = true;
  return {
    [Symbol.dispose]() {
      if (!held) return;
      held = false;
      if (--installs > 0) return;
      if (Deno.upgradeWebSocket === installed) Deno.upgradeWebSocket = original!;
      original = installed = null;
    },
  };
}
