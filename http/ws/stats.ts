// What a server shows of its WebSockets: totals its sessions add to (the metrics, the status
// page) and one session's row (the status page). Only plain data: counting costs an addition.

/**
 * One server's WebSocket counters, summed over its sessions (the status page, the metrics): the
 * sessions add to them as they count their own.
 */
export interface WebSocketTotals {
  /** Sessions begun (101 written). */
  opened: number;
  /** Sessions not yet ended. */
  open: number;
  messagesIn: number;
  messagesOut: number;
  /** Bytes read from and written to the sockets after the 101 (frames, as on the wire). */
  bytesIn: number;
  bytesOut: number;
  /** Ended sessions by the close code the application heard ("1000", "1006", ...). */
  closes: Record<string, number>;
}

/** Zeroed totals. */
export function webSocketTotals(): WebSocketTotals {
  return { opened: 0, open: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, closes: {} };
}

/** A session as the status page shows it (WebSocketSession.describe()). */
export interface WebSocketDescription {
  /** open, closing (the handshake under way) or closed; "open, blocked" while the peer does not read. */
  phase: string;
  ageMs: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** The negotiated Sec-WebSocket-Extensions, "" for none. */
  extensions: string;
  /** Encoded bytes waiting for the kernel, uncompressed slices included. */
  queuedBytes: number;
}
