// The CLI composes the operator's pages (--status, --metrics, --health) around the site's
// handler. The server knows nothing of them: it offers the view they read (its counters,
// reactor, connections) and a hook that hears each response complete.

import type { Handler, HttpProtocol } from "../../http/types.ts";
import type { Server } from "../server.ts";
import {
  type IntrospectionOptions,
  wantsIntrospection,
  withIntrospection,
} from "../operator/introspection.ts";
import { ResponseMetrics } from "../operator/response_metrics.ts";
import { collectStatus, type StatusSource } from "../operator/server_status.ts";
import { PUBLISH_INTERVAL_MS } from "../operator/worker_group.ts";

/** The site's handler with the operator's paths in front, and what the server must be given. */
export interface OperatorPages {
  handler: Handler;
  /** The server's onComplete: responses counted by status and protocol, and timed. */
  onComplete: (status: number, ms: number, protocol: HttpProtocol) => void;
  /**
   * Tells the pages which server they describe, once it exists; in a --workers group, starts
   * publishing this worker's numbers for its siblings on the server's reactor.
   */
  attach(server: Server): void;
}

/**
 * Puts the configured operator paths in front of `site`.
 * @param site the handler for everything else
 * @param options the paths (none configured: null, and nothing is counted or timed)
 * @returns the combined handler and its hooks, or null when no path is configured
 */
export function withOperatorPages(site: Handler, options: IntrospectionOptions): OperatorPages | null {
  if (!wantsIntrospection(options)) return null;
  const metrics = new ResponseMetrics();
  let server: Server | null = null;
  // The handler is made before the server it describes: the source reads it late. No request
  // reaches the handler before attach(), which runs before the server listens.
  const source: StatusSource = {
    get stats() {
      return server!.stats;
    },
    get reactor() {
      return server!.reactor;
    },
    responseMetrics: metrics,
    get draining() {
      return server!.draining;
    },
    get listenerFd() {
      return server!.listenerFd;
    },
    get filesKept() {
      return server!.filesKept;
    },
    connections: () => server!.connections(),
    webSockets: () => server!.webSockets(),
    get webSocketTotals() {
      return server!.webSocketTotals;
    },
  };
  return {
    handler: withIntrospection(site, options, source),
    onComplete: (status, ms, protocol) => metrics.record(status, ms, protocol),
    attach: (s) => {
      server = s;
      const group = options.group;
      if (!group) return;
      const worker = options.worker ?? null;
      // A reactor timer, not setInterval: the reactor may block in epoll_wait, where Deno's
      // timers do not run. It is disposed with the reactor's other timers when the server stops.
      const timer = s.reactor.timer(() => {
        group.publish(collectStatus(source, { rows: false, worker }));
        timer.arm(PUBLISH_INTERVAL_MS);
      });
      timer.arm(0);
    },
  };
}
