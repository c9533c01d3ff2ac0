// The service worker (built to dist/sw.js; not part of app.js): it shows the Web Push
// notifications the server sends (docs/API.md, Push notifications), and a click on one
// opens the room at the message, in the chat's window if one is open. The browser decrypts
// each push; its payload is `{type, room_id, room_name, message_id, from, preview}`.
// (Typed by hand: the page's compilation has the DOM's types, not the worker's.)

interface Payload {
  type: "message" | "mention";
  room_id: string;
  room_name: string;
  message_id: string;
  from: string;
  preview: string;
}

interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}

interface PushEvent extends ExtendableEvent {
  data: { json(): unknown } | null;
}

interface NotificationClickEvent extends ExtendableEvent {
  notification: Notification;
}

interface WindowClient {
  url: string;
  focus(): Promise<WindowClient>;
  postMessage(message: unknown): void;
}

interface Worker {
  registration: ServiceWorkerRegistration;
  clients: {
    matchAll(options: { type: "window"; includeUncontrolled: boolean }): Promise<WindowClient[]>;
    openWindow(url: string): Promise<WindowClient | null>;
    claim(): Promise<void>;
  };
  skipWaiting(): Promise<void>;
  addEventListener(type: "install" | "activate", listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: "push", listener: (event: PushEvent) => void): void;
  addEventListener(type: "notificationclick", listener: (event: NotificationClickEvent) => void): void;
}

const worker = self as unknown as Worker;

export function notificationOf(payload: Payload): { title: string; options: NotificationOptions } {
  const from = payload.type === "mention" ? `${payload.from} mentioned you` : payload.from;
  return {
    title: payload.room_name,
    options: {
      body: payload.preview ? `${from}: ${payload.preview}` : from,
      tag: `room-${payload.room_id}`, // one per room: a newer message replaces the last one
      icon: "favicon.svg",
      data: payload,
    },
  };
}

worker.addEventListener("install", (event) => event.waitUntil(worker.skipWaiting()));
worker.addEventListener("activate", (event) => event.waitUntil(worker.clients.claim()));

worker.addEventListener("push", (event) => {
  const payload = event.data?.json() as Payload | undefined;
  if (!payload?.room_id) return;
  const { title, options } = notificationOf(payload);
  event.waitUntil(worker.registration.showNotification(title, options));
});

worker.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const payload = event.notification.data as Payload;
  const hash = `#room=${encodeURIComponent(payload.room_id)}&message=${encodeURIComponent(payload.message_id)}`;
  const scope = worker.registration.scope;
  event.waitUntil(
    (async () => {
      const windows = await worker.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => client.url.startsWith(scope));
      if (open) {
        await open.focus();
        open.postMessage({ type: "open", room_id: payload.room_id, message_id: payload.message_id });
      } else {
        await worker.clients.openWindow(new URL(hash, scope).href);
      }
    })(),
  );
});
