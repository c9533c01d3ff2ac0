// Mentions and notifications (docs/API.md, Mentions and notifications): the service worker
// and its push subscription, the permission (asked only when the user asks for
// notifications), a room's notification level, mentions of this user, `@` completion.
import { describe, enc, type Message, notOffered } from "./api";
import { h } from "./dom";
import { features } from "./features";
import { flash } from "./page";
import { app, isCurrent, rooms, type RoomState, view } from "./state";

export type Level = "all" | "mentions" | "none";
const LEVELS: [Level, string][] = [
  ["all", "All messages"],
  ["mentions", "Mentions only"],
  ["none", "Nothing"],
];
const SERVICE_WORKER = "sw.js";

// ------------------------------------------------------------------------------ mentions
const NAME = "A-Za-z0-9_.\\-";

/** Whether a message mentions this user: the server's list when it sent one. */
export function mentionsMe(message: Message): boolean {
  const me = app.session?.user.username;
  if (!me || message.username === me) return false;
  return (message.mentions ?? []).some((name) => name.toLowerCase() === me.toLowerCase());
}

/** A `mention` frame: count it where the user is not looking, and say so. */
export function onMention(frame: Record<string, unknown>): void {
  const state = rooms.get(String(frame.room_id));
  if (!state) return;
  features.notifications = true;
  if (isCurrent(state) && document.visibilityState === "visible") return; // seen as it arrives
  state.summary.mention_count = Math.min(100, (state.summary.mention_count ?? 0) + 1);
  view.rooms();
  flash(`${String(frame.username)} mentioned you in “${state.summary.name}”.`);
}

// ------------------------------------------------------------------------------ the level
/** The user's level in a room: the server's, else the room kind's default (a room just
 * created or joined comes without it). */
function levelOf(state: RoomState): Level {
  return state.summary.notifications ?? (state.summary.is_group ? "mentions" : "all");
}

export function levelControl(state: RoomState): HTMLElement | null {
  if (!features.notifications) return null;
  const current = levelOf(state);
  const select = h(
    "select",
    { id: "level-select", "aria-label": "Notifications for this room" },
    ...LEVELS.map(([value, label]) => h("option", { value, selected: current === value }, label)),
  );
  select.addEventListener("change", async () => {
    const wanted = select.value as Level;
    try {
      const answer = await app.api.request<{ level: Level }>("PUT", `/rooms/${enc(state.summary.room_id)}/notifications`, {
        level: wanted,
      });
      state.summary.notifications = answer.level;
    } catch (error) {
      select.value = levelOf(state);
      flash(describe(error));
    }
  });
  return h("label", { class: "level", title: "What you hear of this room while you are away" }, "Notify ", select);
}

// ------------------------------------------------------------------------------ Web Push
function pushSupported(): boolean {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4));
  const bytes = new Uint8Array(new ArrayBuffer(text.length));
  for (let index = 0; index < text.length; index++) bytes[index] = text.charCodeAt(index);
  return bytes;
}

function sameKey(a: ArrayBuffer | null | undefined, b: Uint8Array): boolean {
  if (!a) return false;
  const bytes = new Uint8Array(a);
  return bytes.length === b.length && bytes.every((value, index) => value === b[index]);
}

/** At sign-in: the service worker registered (it shows what arrives) and, when the user
 * already allowed notifications, the subscription renewed for this user and key. Never
 * asks for the permission. */
export async function startPush(open: (roomId: string, messageId: string) => void): Promise<void> {
  if (!pushSupported()) return;
  try {
    const registration = await navigator.serviceWorker.register(SERVICE_WORKER);
    opener = open;
    if (!listening) navigator.serviceWorker.addEventListener("message", onWorkerMessage);
    listening = true;
    await pushKey(); // also tells whether the server offers notifications at all
    if (Notification.permission === "granted") await subscribe(registration);
  } catch {
    /* notifications are an extra: the chat works without them */
  }
  view.notifications();
}

let knownKey: string | null = null;

/** The deployment's VAPID key (asked once per session); a server without it offers no
 * notifications. */
async function pushKey(): Promise<string> {
  if (knownKey) return knownKey;
  try {
    knownKey = (await app.api.get<{ public_key: string }>("/push/key")).public_key;
    features.notifications = true;
    return knownKey;
  } catch (error) {
    if (notOffered(error)) features.notifications = false;
    throw error;
  }
}

/** The button's action: ask for the permission (the only place that does), then subscribe. */
export async function enableNotifications(): Promise<void> {
  if (!pushSupported()) return;
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    flash(permission === "denied" ? "Notifications are blocked in this browser's settings." : "Notifications stay off.");
    view.notifications();
    return;
  }
  try {
    const registration = await navigator.serviceWorker.ready;
    await subscribe(registration);
    flash("Notifications are on: you hear of messages while you are away.");
  } catch (error) {
    flash(`Notifications could not be turned on: ${describe(error)}`);
  }
  view.notifications();
}

async function subscribe(registration: ServiceWorkerRegistration): Promise<void> {
  const key = keyBytes(await pushKey());
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    await subscription.unsubscribe(); // the deployment's key changed: subscribe again
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await app.api.post("/push/subscriptions", subscription.toJSON()); // (again) this user's
}

export function notificationsButton(): HTMLElement | null {
  if (!pushSupported() || !features.notifications) return null;
  const permission = Notification.permission;
  if (permission === "granted") return h("span", { class: "notify-state", id: "notifications-state" }, "Notifications on");
  if (permission === "denied") {
    return h("span", { class: "notify-state muted", id: "notifications-state", title: "Allow them in the browser's site settings" }, "Notifications blocked");
  }
  return h("button", { type: "button", id: "enable-notifications", onclick: () => void enableNotifications() }, "Enable notifications");
}

let opener: (roomId: string, messageId: string) => void = () => {};
let listening = false;

/** A notification was clicked while the chat was open: the room, at the message. */
function onWorkerMessage(event: MessageEvent): void {
  const data = event.data as { type?: string; room_id?: string; message_id?: string } | null;
  if (data?.type === "open" && data.room_id) opener(data.room_id, data.message_id ?? "");
}

// ------------------------------------------------------------------------------ `@` completion
const TYPED = new RegExp(`(^|[^${NAME}])@([${NAME}]*)$`);
let completing: { state: RoomState; refresh: () => void } | null = null; // the composer's

/** A room's members were (re)loaded: the composer's suggestions follow them. */
export function membersLoaded(state: RoomState): void {
  if (completing?.state === state) completing.refresh();
}

/** `@` completion in the composer: the room's members whose name starts with what follows
 * the `@` before the caret, chosen with the arrows and Enter or Tab, or by clicking. */
export function attachCompletion(input: HTMLTextAreaElement, state: RoomState): HTMLElement {
  const list = h("ul", { class: "completions", id: "mention-completions", role: "listbox", hidden: true });
  let choices: string[] = [];
  let active = 0;
  const close = () => {
    list.hidden = true;
    choices = [];
    input.removeAttribute("aria-activedescendant");
  };
  const choose = (name: string) => {
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, caret).replace(TYPED, (_all, lead: string) => `${lead}@${name} `);
    input.value = before + input.value.slice(caret);
    input.setSelectionRange(before.length, before.length);
    close();
    input.focus();
  };
  const draw = () => {
    list.replaceChildren(
      ...choices.map((name, index) =>
        h(
          "li",
          {
            role: "option",
            id: `completion-${index}`,
            class: index === active ? "active" : "",
            "aria-selected": index === active ? "true" : "false",
            onmousedown: (event: Event) => {
              event.preventDefault(); // keep the focus in the composer
              choose(name);
            },
          },
          `@${name}`,
        ),
      ),
    );
    list.hidden = !choices.length;
    if (choices.length) input.setAttribute("aria-activedescendant", `completion-${active}`);
  };
  const suggest = () => {
    const typed = TYPED.exec(input.value.slice(0, input.selectionStart ?? input.value.length));
    const me = app.session?.user.username;
    const names = (state.members ?? []).map((m) => m.username).filter((name) => name !== me);
    const prefix = typed?.[2].toLowerCase();
    choices = prefix === undefined ? [] : names.filter((name) => name.toLowerCase().startsWith(prefix)).sort().slice(0, 8);
    active = 0;
    draw();
  };
  input.setAttribute("aria-controls", "mention-completions");
  input.addEventListener("input", suggest);
  // The members may arrive while a name is being typed (they load after the room opens).
  completing = { state, refresh: () => document.activeElement === input && suggest() };
  input.addEventListener(
    "keydown",
    (event) => {
      if (list.hidden || !choices.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        active = (active + (event.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
        draw();
      } else if (event.key === "Enter" || event.key === "Tab") {
        choose(choices[active]);
      } else if (event.key === "Escape") {
        close();
      } else {
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation(); // not a send, not the composer's Escape
    },
    { capture: true },
  );
  input.addEventListener("blur", () => window.setTimeout(close, 100));
  return list;
}
