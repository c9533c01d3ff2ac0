// The WebSocket side of docs/API.md: one connection, reconnecting with backoff, pinging when idle.

export type Frame = { type: string; [key: string]: unknown };
export type SocketState = "connecting" | "online" | "offline";

const PING_EVERY_MS = 4 * 60 * 1000; // API Gateway closes after 10 idle minutes
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;

export class ChatSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private stopped = true;
  state: SocketState = "offline";
  /** Consecutive connections that failed before opening (a refused token looks like this). */
  failures = 0;

  onFrame: (frame: Frame) => void = () => {};
  /** `opened` is true when a (re)connection just opened: rejoin rooms and catch up then. */
  onState: (state: SocketState, opened: boolean) => void = () => {};

  constructor(
    private readonly url: string,
    private readonly token: () => string | null,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.setState("offline", false);
  }

  /** Sends a frame; false when the socket is not open (the caller may fall back to REST). */
  send(frame: Frame): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Drops the connection as a network failure would (the browser went offline, "reconnect
   * now", tests): offline at once, then the backoff, without waiting for a closing handshake
   * that a dead network never completes. */
  drop(): void {
    const ws = this.ws;
    if (!ws) return;
    ws.close(4000, "client drop");
    this.lost(ws, true);
  }

  /** Reconnect at once instead of waiting for the backoff (the browser came back online). */
  reconnectNow(): void {
    if (this.stopped || this.state === "online") return;
    window.clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.connect();
  }

  private connect(): void {
    const token = this.token();
    if (!token || this.stopped) return;
    this.setState("connecting", false);
    const separator = this.url.includes("?") ? "&" : "?";
    let opened = false;
    const ws = new WebSocket(`${this.url}${separator}token=${encodeURIComponent(token)}`);
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.attempt = 0;
      this.failures = 0;
      window.clearInterval(this.pingTimer);
      this.pingTimer = window.setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
      this.setState("online", true);
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws || typeof event.data !== "string") return;
      let frame: unknown;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame === "object" && typeof (frame as Frame).type === "string") {
        this.onFrame(frame as Frame);
      }
    };
    ws.onclose = () => this.lost(ws, opened);
  }

  /** `ws` is gone (closed, or dropped): offline, and the next attempt after the backoff. */
  private lost(ws: WebSocket, opened: boolean): void {
    if (this.ws !== ws) return; // already handled, or an old socket
    this.ws = null;
    window.clearInterval(this.pingTimer);
    if (!opened) this.failures += 1;
    this.setState("offline", false);
    if (this.stopped) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt += 1;
    // Full jitter keeps many clients from reconnecting in step after an outage.
    this.retryTimer = window.setTimeout(() => this.connect(), delay / 2 + Math.random() * (delay / 2));
  }

  private setState(state: SocketState, opened: boolean): void {
    const changed = state !== this.state;
    this.state = state;
    if (changed || opened) this.onState(state, opened);
  }
}
