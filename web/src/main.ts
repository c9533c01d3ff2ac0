// The chat in a browser, written against docs/API.md only.
//
// Features the contract describes but a server may not offer yet (conversation features,
// bot control, attachments) are detected from what the server sends (fields present in
// messages and summaries, `seq` in bot_stream frames) or from a route that does not exist,
// and their controls stay hidden until then.
import {
  Api,
  ApiError,
  type AuthResponse,
  type BotSettings,
  type Config,
  describe,
  enc,
  type Member,
  type Message,
  type MessagePage,
  notOffered,
  type Reaction,
  type Room,
  type RoomSummary,
  type UploadTicket,
  type User,
} from "./api";
import { append, bytes, clear, h, time } from "./dom";
import { renderMarkdown } from "./markdown";
import { searchBox } from "./search";
import { ChatSocket, type Frame, type SocketState } from "./socket";

// ---------------------------------------------------------------------------- state
interface Session {
  token: string;
  expires_at: number;
  user: User;
}

interface RoomState {
  summary: RoomSummary;
  members: Member[] | null;
  messages: Map<string, Message>;
  order: string[]; // message ids, oldest first
  loaded: boolean; // the newest page was fetched
  nextBefore: string | null;
  loadingOlder: boolean;
  typing: Map<string, number>; // username -> timer clearing it
  online: Set<string>;
  errors: Map<string, string>; // bot message id -> bot_error text
  newSinceSeen: number; // messages from others while not looking (when the server counts none)
  addedAt: number; // when this client created/joined it (a list fetched before may lack it)
}

const SESSION_KEY = "chat.session";
const FEATURES_KEY = "chat.features";
const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];
const PAGE = 50;
const ROOMS_REFRESH_MS = 30_000; // no frame announces an invitation: look for new rooms now and then
const TYPING_IDLE_MS = 4000;
const TYPING_EXPIRE_MS = 8000;

const features = {
  reactions: false, // `reactions` in messages
  editDelete: false, // `edited_at` / `deleted` in messages
  replies: false, // with the other conversation features
  readState: false, // `unread_count` in RoomSummary
  attachments: false, // `attachments` in messages
  botControl: false, // `seq` in bot_stream frames
  catchUpAfter: true, // `next_after` in an ?after= page; false once a server ignored it
  moderation: null as boolean | null, // probed once, owner only
};
Object.assign(features, JSON.parse(sessionStorage.getItem(FEATURES_KEY) ?? "{}"));

let config: Config;
let api: Api;
let session: Session | null = null;
let socket: ChatSocket | null = null;
let expiryTimer: number | undefined;
let roomsTimer: number | undefined;
const rooms = new Map<string, RoomState>();
let currentRoomId: string | null = null;
let replyTo: Message | null = null;
let pendingAttachments: { attachment_id: string; filename: string }[] = [];
let typingSentAt = 0;
let typingStopTimer: number | undefined;
let readTimer: number | undefined;
const renderQueue = new Set<string>();

const root = document.getElementById("app") as HTMLElement;

// ---------------------------------------------------------------------------- start
async function main(): Promise<void> {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    config = (await response.json()) as Config;
    if (!config.rest_url || !config.ws_url) throw new Error("config.json needs rest_url and ws_url");
  } catch (error) {
    root.replaceChildren(h("p", { class: "fatal", role: "alert" }, `Cannot load config.json: ${error}`));
    return;
  }
  api = new Api(config);
  api.onUnauthorized = () => signOut("Your session has expired. Please sign in again.");
  const stored = loadSession();
  if (stored) {
    await startSession(stored);
  } else {
    showLogin();
  }
}

function loadSession(): Session | null {
  try {
    const value = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null") as Session | null;
    if (value?.token && value.expires_at > Date.now() + 5000) return value;
  } catch {
    /* a damaged entry is no session */
  }
  sessionStorage.removeItem(SESSION_KEY);
  return null;
}

function saveFeatures(): void {
  sessionStorage.setItem(FEATURES_KEY, JSON.stringify({ botControl: features.botControl }));
}

// ---------------------------------------------------------------------------- sign in / out
function showLogin(notice = ""): void {
  document.title = "Chat — sign in";
  let mode: "login" | "register" = "login";
  const error = h("p", { class: "form-error", role: "alert", id: "login-error" }, notice);
  const email = h("input", { type: "email", name: "email", autocomplete: "email", id: "login-email" });
  const emailRow = h("label", { class: "field", hidden: true }, "Email (optional)", email);
  const username = h("input", {
    name: "username", autocomplete: "username", required: true, minlength: 3, maxlength: 32,
    pattern: "[A-Za-z0-9_.\\-]+", id: "login-username", autofocus: true,
  });
  const password = h("input", {
    type: "password", name: "password", autocomplete: "current-password", required: true,
    minlength: 8, maxlength: 128, id: "login-password",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const heading = h("h1", {}, "Sign in");
  const toggle = h("button", { type: "button", class: "link" }, "New here? Create an account");
  toggle.addEventListener("click", () => {
    mode = mode === "login" ? "register" : "login";
    heading.textContent = mode === "login" ? "Sign in" : "Create an account";
    submit.textContent = mode === "login" ? "Sign in" : "Create account";
    toggle.textContent = mode === "login" ? "New here? Create an account" : "Have an account? Sign in";
    emailRow.hidden = mode === "login";
    password.autocomplete = mode === "login" ? "current-password" : "new-password";
    error.textContent = "";
  });
  const form = h(
    "form",
    { class: "login card", "aria-labelledby": "login-heading" },
    heading,
    h("label", { class: "field" }, "Username", username),
    h("label", { class: "field" }, "Password", password),
    emailRow,
    error,
    submit,
    toggle,
  );
  heading.id = "login-heading";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      const body: Record<string, string> = { username: username.value.trim(), password: password.value };
      if (mode === "register" && email.value.trim()) body.email = email.value.trim();
      const auth = await api.post<AuthResponse>(mode === "login" ? "/auth/login" : "/auth/register", body);
      const next: Session = {
        token: auth.access_token,
        expires_at: Date.now() + auth.expires_in * 1000,
        user: auth.user,
      };
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
      await startSession(next);
    } catch (failure) {
      error.textContent = describe(failure);
      submit.disabled = false;
    }
  });
  root.replaceChildren(h("main", { class: "login-screen" }, form));
  username.focus();
}

async function startSession(next: Session): Promise<void> {
  session = next;
  api.token = next.token;
  window.clearTimeout(expiryTimer);
  expiryTimer = window.setTimeout(
    () => signOut("Your session has expired. Please sign in again."),
    Math.min(next.expires_at - Date.now(), 2 ** 31 - 1),
  );
  showMain();
  socket = new ChatSocket(config.ws_url, () => session?.token ?? null);
  socket.onFrame = onFrame;
  socket.onState = onSocketState;
  try {
    await refreshRooms();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) flash(describe(error));
    if (!session) return;
  }
  socket.start();
  window.clearInterval(roomsTimer);
  roomsTimer = window.setInterval(() => {
    if (session && document.visibilityState === "visible" && socket?.state === "online") {
      refreshRooms().catch(() => undefined);
    }
  }, ROOMS_REFRESH_MS);
  const wanted = location.hash.startsWith("#room=") ? decodeURIComponent(location.hash.slice(6)) : null;
  if (wanted && rooms.has(wanted)) void openRoom(wanted);
}

function signOut(notice = ""): void {
  if (!session) return;
  session = null;
  api.token = null;
  window.clearTimeout(expiryTimer);
  window.clearInterval(roomsTimer);
  sessionStorage.removeItem(SESSION_KEY);
  socket?.stop();
  socket = null;
  rooms.clear();
  currentRoomId = null;
  replyTo = null;
  history.replaceState(null, "", location.pathname + location.search);
  showLogin(notice);
}

// ---------------------------------------------------------------------------- layout
const ui = {
  status: h("span", { class: "conn", role: "status", id: "connection" }),
  roomList: h("ul", { class: "rooms", id: "room-list" }),
  flash: h("div", { class: "flash", role: "alert", id: "flash" }),
  roomView: h("section", { class: "room-view", id: "room-view", "aria-label": "Conversation" }),
  layout: h("div", { class: "layout" }),
};

function showMain(): void {
  const user = session!.user;
  document.title = "Chat";
  const createName = h("input", { name: "name", required: true, maxlength: 100, placeholder: "Room name", "aria-label": "New room name", id: "create-name" });
  const createGroup = h("input", { type: "checkbox", checked: true, id: "create-group" });
  const createForm = h(
    "form",
    { class: "inline-form", "aria-label": "Create a room" },
    createName,
    h("label", { class: "check", title: "A group room; unticked: at most two people" }, createGroup, "group"),
    h("button", { type: "submit" }, "Create"),
  );
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const room = await api.post<Room>("/rooms", { name: createName.value, is_group: createGroup.checked });
      createName.value = "";
      addRoom(room);
      await openRoom(room.room_id);
    } catch (error) {
      flash(describe(error));
    }
  });
  const joinCode = h("input", { name: "code", required: true, placeholder: "Join code", "aria-label": "Join code", id: "join-code", autocomplete: "off" });
  const joinForm = h("form", { class: "inline-form", "aria-label": "Join a room by code" }, joinCode, h("button", { type: "submit" }, "Join"));
  joinForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const room = await api.post<Room>("/rooms/join", { code: joinCode.value.trim() });
      joinCode.value = "";
      addRoom(room);
      await openRoom(room.room_id);
    } catch (error) {
      flash(error instanceof ApiError && error.status === 404 ? "No room has that code." : describe(error));
    }
  });
  const sidebar = h(
    "nav",
    { class: "sidebar", "aria-label": "Rooms" },
    h("h2", { class: "visually-hidden" }, "Rooms"),
    ui.roomList,
    createForm,
    joinForm,
  );
  clear(ui.roomView);
  ui.roomView.append(h("div", { class: "empty" }, h("p", {}, "Choose a room, create one, or join one with its code.")));
  ui.layout.replaceChildren(sidebar, ui.roomView);
  ui.layout.classList.remove("room-open");
  const header = h(
    "header",
    { class: "topbar" },
    h("span", { class: "brand" }, "Chat"),
    ui.status,
    searchBox({
      api,
      roomName: (roomId) => rooms.get(roomId)?.summary.name ?? "a room",
      currentRoom: () => currentRoomId,
      openAt: openRoomAt,
    }),
    h("span", { class: "me", id: "me" }, user.username),
    h("button", { type: "button", id: "sign-out", onclick: () => signOut() }, "Sign out"),
  );
  root.replaceChildren(header, ui.flash, ui.layout);
  renderStatus("connecting");
}

let flashTimer: number | undefined;
function flash(text: string): void {
  ui.flash.textContent = text;
  ui.flash.classList.toggle("visible", Boolean(text));
  window.clearTimeout(flashTimer);
  if (text) flashTimer = window.setTimeout(() => flash(""), 6000);
}

function onSocketState(state: SocketState, opened: boolean): void {
  renderStatus(state);
  if (opened) void resync();
  if (state !== "online" && socket && socket.failures >= 3 && session) {
    // A handshake refused again and again: an expired or revoked token gets 401 here.
    api.get<User>("/auth/me").catch(() => undefined);
  }
}

function renderStatus(state: SocketState): void {
  const labels: Record<SocketState, string> = {
    online: "Online",
    connecting: "Connecting…",
    offline: "Offline — reconnecting",
  };
  ui.status.textContent = labels[state];
  ui.status.dataset.state = state;
  document.body.classList.toggle("offline", state !== "online");
}

// ---------------------------------------------------------------------------- rooms
function roomState(summary: RoomSummary): RoomState {
  return {
    summary,
    members: null,
    messages: new Map(),
    order: [],
    loaded: false,
    nextBefore: null,
    loadingOlder: false,
    typing: new Map(),
    online: new Set(),
    errors: new Map(),
    newSinceSeen: 0,
    addedAt: 0,
  };
}

async function refreshRooms(): Promise<void> {
  const asked = Date.now();
  const { rooms: summaries } = await api.get<{ rooms: RoomSummary[] }>("/rooms");
  const seen = new Set<string>();
  for (const summary of summaries) {
    seen.add(summary.room_id);
    if ("unread_count" in summary) features.readState = true;
    const state = rooms.get(summary.room_id);
    if (state) {
      state.summary = { ...state.summary, ...summary };
    } else {
      rooms.set(summary.room_id, roomState(summary));
      socket?.send({ type: "join", room_id: summary.room_id }); // invited meanwhile: follow it live
    }
  }
  for (const [id, state] of [...rooms]) if (!seen.has(id) && state.addedAt < asked) dropRoom(id);
  renderRooms();
}

function addRoom(room: Room): void {
  const { members, ...summary } = room;
  const state = rooms.get(room.room_id) ?? roomState({ ...summary, last_message_at: null });
  state.summary = { ...state.summary, ...summary };
  state.members = members;
  state.addedAt = Date.now();
  rooms.set(room.room_id, state);
  socket?.send({ type: "join", room_id: room.room_id });
  renderRooms();
}

function dropRoom(roomId: string): void {
  rooms.delete(roomId);
  if (currentRoomId === roomId) {
    currentRoomId = null;
    ui.layout.classList.remove("room-open");
    ui.roomView.replaceChildren(h("div", { class: "empty" }, h("p", {}, "You are no longer in that room.")));
  }
  renderRooms();
}

function renderRooms(): void {
  // The list is rebuilt on every change (a new message, a refresh): the room button that had
  // the keyboard focus gets it back, or a keyboard user would lose their place.
  const focused = (document.activeElement as HTMLElement | null)?.closest?.("#room-list button.room");
  const focusedRoom = focused instanceof HTMLElement ? focused.dataset.room : undefined;
  drawRooms();
  if (focusedRoom) ui.roomList.querySelector<HTMLElement>(`button.room[data-room="${CSS.escape(focusedRoom)}"]`)?.focus();
}

function drawRooms(): void {
  const sorted = [...rooms.values()].sort((a, b) =>
    (b.summary.last_message_at ?? b.summary.created_at).localeCompare(a.summary.last_message_at ?? a.summary.created_at),
  );
  if (!sorted.length) {
    ui.roomList.replaceChildren(h("li", { class: "muted" }, "No rooms yet."));
    return;
  }
  ui.roomList.replaceChildren(
    ...sorted.map((state) => {
      const { summary } = state;
      const unread = features.readState ? summary.unread_count ?? 0 : state.newSinceSeen;
      const badge = unread
        ? h("span", { class: "badge", "aria-label": `${unread >= 100 ? "100 or more" : unread} unread` }, unread >= 100 ? "99+" : String(unread))
        : null;
      const active = summary.room_id === currentRoomId;
      return h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: `room${active ? " active" : ""}`,
            "aria-current": active ? "true" : null,
            "data-room": summary.room_id,
            onclick: () => void openRoom(summary.room_id),
          },
          h("span", { class: "room-name" }, summary.name),
          badge,
          h("time", { class: "room-time", datetime: summary.last_message_at ?? "" }, time(summary.last_message_at)),
        ),
      );
    }),
  );
}

function isOwner(state: RoomState): boolean {
  return state.summary.owner === session?.user.username;
}

async function openRoom(roomId: string): Promise<void> {
  const state = rooms.get(roomId);
  if (!state) return;
  currentRoomId = roomId;
  replyTo = null;
  pendingAttachments = [];
  state.newSinceSeen = 0;
  history.replaceState(null, "", `#room=${encodeURIComponent(roomId)}`);
  ui.layout.classList.add("room-open");
  renderRooms();
  renderRoomView(state);
  document.getElementById("composer-input")?.focus();
  if (!state.loaded) await loadLatest(state);
  if (!features.attachments && !attachmentsProbed) void probeAttachments(state);
  if (!state.members) void loadMembers(state);
  markRead(state);
}

/** Open a room scrolled to one of its messages (a search result), loading older pages until
 * it is there. */
async function openRoomAt(roomId: string, messageId: string): Promise<void> {
  if (!rooms.has(roomId)) await refreshRooms();
  const state = rooms.get(roomId);
  if (!state) {
    flash("That room is no longer one of yours.");
    return;
  }
  await openRoom(roomId);
  for (let pages = 0; !state.messages.has(messageId) && state.nextBefore && pages < 40; pages++) {
    await loadOlder(state);
  }
  await new Promise((done) => requestAnimationFrame(done)); // rendered on the next frame
  const element = document.getElementById(domId(messageId));
  if (!element) {
    flash("That message is no longer in the room.");
    return;
  }
  element.scrollIntoView({ block: "center" });
  element.classList.add("found");
  element.tabIndex = -1;
  element.focus({ preventScroll: true });
  window.setTimeout(() => element.classList.remove("found"), 4000);
}

async function loadMembers(state: RoomState): Promise<void> {
  try {
    const { members } = await api.get<{ members: Member[] }>(`/rooms/${enc(state.summary.room_id)}/members`);
    state.members = members;
    for (const member of members) if (member.online) state.online.add(member.username);
    if (state.summary.room_id === currentRoomId) renderPresence(state);
  } catch (error) {
    handleRoomError(state, error);
  }
}

function handleRoomError(state: RoomState, error: unknown): void {
  if (error instanceof ApiError && error.status === 404 && error.code === "not_found") {
    dropRoom(state.summary.room_id);
    flash(`You are no longer a member of “${state.summary.name}”.`);
  } else if (!(error instanceof ApiError && error.status === 401)) {
    flash(describe(error));
  }
}

// ---------------------------------------------------------------------------- messages
function noteFeatures(message: Message): void {
  let changed = false;
  const set = (key: "reactions" | "editDelete" | "replies" | "attachments", on: boolean) => {
    if (on && !features[key]) {
      features[key] = true;
      changed = true;
    }
  };
  set("reactions", "reactions" in message);
  set("editDelete", "edited_at" in message || "deleted" in message);
  set("replies", "reactions" in message || "edited_at" in message);
  set("attachments", "attachments" in message);
  if (changed && currentRoomId) {
    const state = rooms.get(currentRoomId);
    if (state) renderComposerTools(state);
  }
}

function upsert(state: RoomState, incoming: Message, { fromServer = true } = {}): void {
  noteFeatures(incoming);
  const existing = state.messages.get(incoming.message_id);
  let message = incoming;
  if (existing) {
    // A stream we follow live is ahead of the stored prefix of a streaming answer: keep it.
    if (
      fromServer &&
      existing.status === "streaming" &&
      incoming.status === "streaming" &&
      existing.content.length > incoming.content.length
    ) {
      message = { ...incoming, content: existing.content };
    }
    message = { ...existing, ...message };
  }
  state.messages.set(message.message_id, message);
  if (!existing) {
    insertSorted(state.order, message.message_id);
    // A server message replaces the optimistic copy that carried its client_id.
    if (message.client_id && !message.message_id.startsWith("pending:")) {
      const pendingId = `pending:${message.client_id}`;
      if (state.messages.delete(pendingId)) {
        state.order.splice(state.order.indexOf(pendingId), 1);
        document.getElementById(domId(pendingId))?.remove();
      }
    }
  }
  if (state.summary.room_id === currentRoomId) renderMessageNow(state, message.message_id);
}

function insertSorted(order: string[], id: string): void {
  if (id.startsWith("pending:")) {
    order.push(id);
    return;
  }
  let index = order.length;
  while (index > 0 && (order[index - 1].startsWith("pending:") || order[index - 1] > id)) index -= 1;
  order.splice(index, 0, id);
}

async function loadLatest(state: RoomState): Promise<void> {
  try {
    const page = await api.get<MessagePage>(`/rooms/${enc(state.summary.room_id)}/messages?limit=${PAGE}`);
    const wasLoaded = state.loaded;
    state.loaded = true;
    if (!wasLoaded) state.nextBefore = page.next_before ?? null;
    for (const message of page.messages) upsert(state, message);
    if (state.summary.room_id === currentRoomId) {
      renderOlderButton(state);
      scrollToBottom(true);
      markRead(state);
    }
  } catch (error) {
    handleRoomError(state, error);
  }
}

async function loadOlder(state: RoomState): Promise<void> {
  if (state.loadingOlder || !state.nextBefore) return;
  state.loadingOlder = true;
  renderOlderButton(state);
  const log = document.getElementById("messages");
  const fromBottom = log ? log.scrollHeight - log.scrollTop : 0;
  try {
    const page = await api.get<MessagePage>(
      `/rooms/${enc(state.summary.room_id)}/messages?limit=${PAGE}&before=${enc(state.nextBefore)}`,
    );
    state.nextBefore = page.next_before ?? null;
    for (const message of page.messages) upsert(state, message);
    if (log) log.scrollTop = log.scrollHeight - fromBottom; // keep what the reader was looking at
  } catch (error) {
    handleRoomError(state, error);
  } finally {
    state.loadingOlder = false;
    if (state.summary.room_id === currentRoomId) renderOlderButton(state);
  }
}

/** After a reconnect: everything stored since the newest message we have. */
async function catchUp(state: RoomState): Promise<void> {
  const last = [...state.order].reverse().find((id) => !id.startsWith("pending:"));
  if (!last || !features.catchUpAfter) return loadLatest(state);
  let after: string | null = last;
  try {
    for (let pages = 0; after && pages < 20; pages += 1) {
      const page: MessagePage = await api.get<MessagePage>(
        `/rooms/${enc(state.summary.room_id)}/messages?limit=100&after=${enc(after)}`,
      );
      if (!("next_after" in page)) {
        // The server ignored `after` (an older server): its newest page is the best catch-up.
        features.catchUpAfter = false;
        for (const message of page.messages) upsert(state, message);
        break;
      }
      for (const message of page.messages) upsert(state, message);
      after = page.next_after ?? null;
    }
    // Answers that were streaming when the connection dropped: their stored state now.
    for (const id of state.order) {
      const message = state.messages.get(id);
      if (message?.status === "streaming") {
        await loadLatest(state);
        break;
      }
    }
  } catch (error) {
    handleRoomError(state, error);
  }
}

async function resync(): Promise<void> {
  // Rejoin every room (live messages, presence, unread counts), then catch up.
  try {
    await refreshRooms();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) flash(describe(error));
    return;
  }
  for (const state of rooms.values()) {
    state.online.clear();
    socket?.send({ type: "join", room_id: state.summary.room_id });
  }
  await Promise.all([...rooms.values()].filter((s) => s.loaded).map((state) => catchUp(state)));
  const current = currentRoomId ? rooms.get(currentRoomId) : undefined;
  if (current) {
    void loadMembers(current);
    markRead(current);
  }
}

async function send(state: RoomState, input: HTMLTextAreaElement, button: HTMLButtonElement): Promise<void> {
  const content = input.value;
  if (!content.trim() && !pendingAttachments.length) return;
  const clientId = crypto.randomUUID();
  const body: Record<string, unknown> = { content, client_id: clientId };
  if (replyTo) body.reply_to = replyTo.message_id;
  if (pendingAttachments.length) body.attachments = pendingAttachments.map((a) => a.attachment_id);
  const me = session!.user.username;
  const optimistic: Message = {
    message_id: `pending:${clientId}`,
    room_id: state.summary.room_id,
    username: me,
    content,
    message_type: "text",
    is_bot: false,
    created_at: new Date().toISOString(),
    client_id: clientId,
    status: "complete",
  };
  input.value = "";
  button.disabled = true;
  stopTyping(state);
  upsert(state, optimistic, { fromServer: false });
  scrollToBottom(true);
  try {
    const stored = await api.post<Message>(`/rooms/${enc(state.summary.room_id)}/messages`, body);
    upsert(state, stored);
    replyTo = null;
    pendingAttachments = [];
    renderComposerTools(state);
    state.summary.last_message_at = stored.created_at;
    renderRooms();
  } catch (error) {
    state.messages.delete(optimistic.message_id);
    state.order.splice(state.order.indexOf(optimistic.message_id), 1);
    document.getElementById(domId(optimistic.message_id))?.remove();
    if (!input.value) input.value = content; // nothing typed is lost
    flash(describe(error));
  } finally {
    button.disabled = false;
  }
}

function markRead(state: RoomState): void {
  if (!features.readState || state.summary.room_id !== currentRoomId || document.visibilityState !== "visible") return;
  window.clearTimeout(readTimer);
  readTimer = window.setTimeout(async () => {
    const last = [...state.order].reverse().find((id) => !id.startsWith("pending:"));
    if (!last || (state.summary.last_read_message_id ?? "") >= last) return;
    try {
      const read = await api.request<{ last_read_message_id: string; unread_count: number }>(
        "PUT",
        `/rooms/${enc(state.summary.room_id)}/read`,
        { message_id: last },
      );
      state.summary.last_read_message_id = read.last_read_message_id;
      state.summary.unread_count = read.unread_count;
      renderRooms();
    } catch (error) {
      if (notOffered(error)) features.readState = false;
    }
  }, 400);
}

// ---------------------------------------------------------------------------- frames
function onFrame(frame: Frame): void {
  const roomId = typeof frame.room_id === "string" ? frame.room_id : null;
  const state = roomId ? rooms.get(roomId) : undefined;
  switch (frame.type) {
    case "message": {
      if (!state) return;
      const { type: _type, ...message } = frame;
      const incoming = message as unknown as Message;
      const known = state.messages.has(incoming.message_id);
      upsert(state, incoming);
      if (!known) onNewMessage(state, incoming);
      return;
    }
    case "message_updated": {
      if (!state) return;
      const { type: _type, ...message } = frame;
      upsert(state, message as unknown as Message);
      return;
    }
    case "message_deleted": {
      const message = state?.messages.get(String(frame.message_id));
      if (state && message) upsert(state, { ...message, deleted: true, content: "", reactions: [], attachments: [] });
      return;
    }
    case "reaction": {
      const message = state?.messages.get(String(frame.message_id));
      if (!state || !message) return;
      upsert(state, { ...message, reactions: applyReaction(message.reactions ?? [], frame) });
      return;
    }
    case "bot_stream":
      if (state) onBotStream(state, frame);
      return;
    case "bot_error":
      if (state) onBotError(state, frame);
      return;
    case "typing":
      if (state) onTyping(state, String(frame.username), frame.is_typing === true);
      return;
    case "joined":
      if (state && Array.isArray(frame.online)) {
        for (const name of frame.online) state.online.add(String(name));
        if (roomId === currentRoomId) renderPresence(state);
      }
      return;
    case "presence":
      if (!state) return;
      if (frame.status === "online") state.online.add(String(frame.username));
      else state.online.delete(String(frame.username));
      if (roomId === currentRoomId) renderPresence(state);
      return;
    case "read":
      if (state?.members) {
        const member = state.members.find((m) => m.username === frame.username);
        if (member) member.last_read_message_id = String(frame.message_id);
      }
      return;
    case "room_updated":
      if (!state) return;
      if (typeof frame.name === "string") state.summary.name = frame.name;
      if (typeof frame.owner === "string") {
        state.summary.owner = frame.owner;
        state.members = null;
        void loadMembers(state);
      }
      renderRooms();
      if (roomId === currentRoomId) renderRoomHeader(state);
      return;
    case "removed":
      if (state) {
        flash(`You were removed from “${state.summary.name}”.`);
        dropRoom(state.summary.room_id);
      }
      return;
    case "error":
      if (frame.code === "unauthorized") signOut("Your session has expired. Please sign in again.");
      else if (frame.request_type !== "typing" && frame.request_type !== "join") flash(String(frame.message ?? frame.code));
      return;
    default:
      return; // joined/left/pong and frames this client does not know
  }
}

function onNewMessage(state: RoomState, message: Message): void {
  state.summary.last_message_at = message.created_at;
  const mine = message.username === session?.user.username;
  if (!mine) {
    onTyping(state, message.username, false);
    if (state.summary.room_id === currentRoomId && document.visibilityState === "visible") {
      markRead(state);
    } else if (features.readState) {
      state.summary.unread_count = Math.min(100, (state.summary.unread_count ?? 0) + 1);
    } else {
      state.newSinceSeen += 1;
    }
  }
  renderRooms();
}

function applyReaction(reactions: Reaction[], frame: Frame): Reaction[] {
  const emoji = String(frame.emoji);
  const username = String(frame.username);
  const next = reactions.map((r) => ({ ...r, usernames: [...r.usernames] }));
  let reaction = next.find((r) => r.emoji === emoji);
  if (!reaction) {
    reaction = { emoji, count: 0, usernames: [] };
    next.push(reaction);
  }
  if (frame.added) {
    if (!reaction.usernames.includes(username)) reaction.usernames.push(username);
  } else {
    reaction.usernames = reaction.usernames.filter((u) => u !== username);
  }
  reaction.count = typeof frame.count === "number" ? frame.count : reaction.usernames.length;
  return next.filter((r) => r.count > 0);
}

function botMessage(state: RoomState, frame: Frame): Message {
  const id = String(frame.message_id);
  const existing = state.messages.get(id);
  if (existing) return existing;
  const created: Message = {
    message_id: id,
    room_id: state.summary.room_id,
    username: "bot",
    content: "",
    message_type: "bot",
    is_bot: true,
    created_at: new Date().toISOString(),
    reply_to: typeof frame.reply_to === "string" ? frame.reply_to : null,
    status: "streaming",
  };
  return created;
}

/** Appends a chunk; with `offset` (resumable streams) only the part past what we hold. */
export function applyChunk(content: string, chunk: string, offset: unknown): string {
  if (typeof offset !== "number") return content + chunk;
  const have = Array.from(content);
  const piece = Array.from(chunk);
  if (offset > have.length) return content + chunk; // a gap: the final full_response mends it
  if (offset + piece.length <= have.length) return content; // already have it
  return have.join("") + piece.slice(have.length - offset).join("");
}

function onBotStream(state: RoomState, frame: Frame): void {
  if ("seq" in frame && !features.botControl) {
    features.botControl = true;
    saveFeatures();
  }
  const message = botMessage(state, frame);
  const isNew = !state.messages.has(message.message_id);
  let next: Message;
  if (frame.is_complete) {
    next = {
      ...message,
      content: typeof frame.full_response === "string" ? frame.full_response : message.content,
      status: frame.stopped ? "stopped" : "complete",
    };
  } else {
    next = { ...message, content: applyChunk(message.content, String(frame.chunk ?? ""), frame.offset), status: "streaming" };
  }
  state.messages.set(next.message_id, next);
  if (isNew) {
    insertSorted(state.order, next.message_id);
    onNewMessage(state, next);
  }
  if (state.summary.room_id !== currentRoomId) return;
  if (frame.is_complete || isNew) renderMessageNow(state, next.message_id);
  else scheduleRender(next.message_id); // at most one Markdown render per frame while streaming
}

function onBotError(state: RoomState, frame: Frame): void {
  const message = botMessage(state, frame);
  const isNew = !state.messages.has(message.message_id);
  state.errors.set(message.message_id, `${String(frame.message ?? "The bot could not answer")} (${String(frame.code ?? "error")})`);
  state.messages.set(message.message_id, { ...message, status: "error" });
  if (isNew) insertSorted(state.order, message.message_id);
  if (state.summary.room_id === currentRoomId) renderMessageNow(state, message.message_id);
}

function onTyping(state: RoomState, username: string, isTyping: boolean): void {
  if (username === session?.user.username) return;
  window.clearTimeout(state.typing.get(username));
  if (isTyping) {
    state.typing.set(
      username,
      window.setTimeout(() => onTyping(state, username, false), TYPING_EXPIRE_MS),
    );
  } else {
    state.typing.delete(username);
  }
  if (state.summary.room_id === currentRoomId) renderTyping(state);
}

function sendTyping(state: RoomState): void {
  const now = Date.now();
  if (now - typingSentAt > TYPING_IDLE_MS - 1000) {
    typingSentAt = now;
    socket?.send({ type: "typing", room_id: state.summary.room_id, is_typing: true });
  }
  window.clearTimeout(typingStopTimer);
  typingStopTimer = window.setTimeout(() => stopTyping(state), TYPING_IDLE_MS);
}

function stopTyping(state: RoomState): void {
  window.clearTimeout(typingStopTimer);
  if (!typingSentAt) return;
  typingSentAt = 0;
  socket?.send({ type: "typing", room_id: state.summary.room_id, is_typing: false });
}

// ---------------------------------------------------------------------------- room view
function renderRoomView(state: RoomState): void {
  const input = h("textarea", {
    id: "composer-input",
    rows: 1,
    maxlength: 4000,
    placeholder: "Message (@bot asks the bot)",
    title: "Enter sends, Shift+Enter starts a new line, @bot or /bot asks the bot",
    "aria-label": "Message",
  });
  const sendButton = h("button", { type: "submit", class: "primary", id: "send" }, "Send");
  const form = h(
    "form",
    { class: "composer", id: "composer", "aria-label": "Send a message" },
    h("div", { class: "composer-tools", id: "composer-tools" }),
    h("div", { class: "composer-row" }, input, sendButton),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void send(state, input, sendButton);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape" && replyTo) {
      replyTo = null;
      renderComposerTools(state);
    }
  });
  input.addEventListener("input", () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    if (input.value.trim()) sendTyping(state);
    else stopTyping(state);
  });
  input.addEventListener("blur", () => stopTyping(state));

  const log = h("div", {
    class: "messages",
    id: "messages",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": `Messages in ${state.summary.name}`,
    tabindex: 0,
  });
  log.addEventListener("scroll", () => {
    if (log.scrollTop < 150) void loadOlder(state);
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 40) markRead(state);
  });
  ui.roomView.replaceChildren(
    h("header", { class: "room-head", id: "room-head" }),
    log,
    h("div", { class: "typing", id: "typing", "aria-live": "polite" }),
    form,
  );
  renderRoomHeader(state);
  log.append(h("div", { id: "older" }));
  for (const id of state.order) log.append(renderMessage(state, id));
  renderOlderButton(state);
  renderPresence(state);
  renderTyping(state);
  renderComposerTools(state);
  scrollToBottom(true);
}

function renderRoomHeader(state: RoomState): void {
  const head = document.getElementById("room-head");
  if (!head) return;
  const { summary } = state;
  clear(head);
  append(
    head,
    h(
      "button",
      { type: "button", class: "back", "aria-label": "Back to rooms", onclick: () => {
        ui.layout.classList.remove("room-open");
        currentRoomId = null;
        renderRooms();
        (document.querySelector(".room") as HTMLElement | null)?.focus();
      } },
      "←",
    ),
    h(
      "div",
      { class: "room-title" },
      h("h1", { id: "room-name" }, summary.name),
      h("span", { class: "presence", id: "presence" }),
    ),
    h("span", { class: "code", title: "Share this code to let people join" }, "Code ", h("code", { id: "room-code" }, summary.code)),
    h("button", { type: "button", id: "members-button", onclick: () => void showMembers(state) }, "Members"),
    isOwner(state) ? h("button", { type: "button", id: "bot-button", onclick: () => void showBotSettings(state) }, "Bot") : null,
    h("button", { type: "button", id: "leave-button", class: "danger", onclick: () => void leaveRoom(state) }, "Leave"),
  );
  renderPresence(state);
}

function renderPresence(state: RoomState): void {
  const element = document.getElementById("presence");
  if (!element) return;
  const me = session?.user.username;
  const others = [...state.online].filter((name) => name !== me && name !== "bot").sort();
  element.textContent = others.length ? `Online: ${others.join(", ")}` : "Nobody else online";
}

function renderTyping(state: RoomState): void {
  const element = document.getElementById("typing");
  if (!element) return;
  const names = [...state.typing.keys()].sort();
  element.textContent = !names.length
    ? ""
    : names.length === 1
      ? `${names[0]} is typing…`
      : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are typing…`;
}

function renderOlderButton(state: RoomState): void {
  const holder = document.getElementById("older");
  if (!holder) return;
  if (state.nextBefore) {
    holder.replaceChildren(
      h(
        "button",
        { type: "button", class: "older", disabled: state.loadingOlder, onclick: () => void loadOlder(state) },
        state.loadingOlder ? "Loading…" : "Load older messages",
      ),
    );
  } else {
    holder.replaceChildren(state.loaded ? h("p", { class: "muted start" }, "This is the start of the room.") : h("p", { class: "muted start" }, "Loading…"));
  }
}

function renderComposerTools(state: RoomState): void {
  const tools = document.getElementById("composer-tools");
  if (!tools) return;
  const parts: (Node | null)[] = [];
  if (replyTo) {
    parts.push(
      h(
        "div",
        { class: "replying" },
        `Replying to ${replyTo.username}: `,
        h("span", { class: "snippet" }, snippet(replyTo.content)),
        h("button", { type: "button", class: "link", onclick: () => { replyTo = null; renderComposerTools(state); } }, "Cancel"),
      ),
    );
  }
  for (const attachment of pendingAttachments) {
    parts.push(h("span", { class: "chip" }, `Attached: ${attachment.filename}`));
  }
  if (features.attachments) {
    const file = h("input", { type: "file", id: "attach-input", class: "visually-hidden", multiple: true });
    file.addEventListener("change", () => void uploadFiles(state, [...(file.files ?? [])]));
    parts.push(h("label", { class: "button attach", for: "attach-input" }, "Attach files"), file);
  }
  tools.replaceChildren(...parts.filter((p): p is Node => p !== null));
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
}

function domId(messageId: string): string {
  return `m-${messageId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

function scheduleRender(messageId: string): void {
  if (!renderQueue.size) {
    requestAnimationFrame(() => {
      const state = currentRoomId ? rooms.get(currentRoomId) : undefined;
      for (const id of renderQueue) if (state) renderMessageNow(state, id);
      renderQueue.clear();
    });
  }
  renderQueue.add(messageId);
}

function renderMessageNow(state: RoomState, messageId: string): void {
  const log = document.getElementById("messages");
  if (!log) return;
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const element = renderMessage(state, messageId);
  const old = document.getElementById(element.id);
  if (old) {
    old.replaceWith(element);
  } else {
    const index = state.order.indexOf(messageId);
    const after = state.order.slice(index + 1).map((id) => document.getElementById(domId(id))).find(Boolean);
    if (after) log.insertBefore(element, after);
    else log.append(element);
  }
  if (nearBottom) scrollToBottom(false);
}

function scrollToBottom(force: boolean): void {
  const log = document.getElementById("messages");
  if (!log) return;
  if (force || log.scrollHeight - log.scrollTop - log.clientHeight < 160) log.scrollTop = log.scrollHeight;
}

function renderMessage(state: RoomState, messageId: string): HTMLElement {
  const message = state.messages.get(messageId)!;
  const me = session?.user.username;
  const mine = message.username === me && !message.is_bot;
  const status = message.status ?? "complete";
  const classes = ["msg", `type-${message.message_type}`, `status-${status}`];
  if (mine) classes.push("mine");
  if (message.is_bot) classes.push("bot");
  if (messageId.startsWith("pending:")) classes.push("pending");
  if (message.deleted) classes.push("deleted");

  const body = h("div", { class: "body" });
  if (message.deleted) {
    body.textContent = "This message was deleted.";
  } else if (message.is_bot && !message.content && status === "streaming") {
    body.append(h("span", { class: "thinking" }, "Thinking…"));
  } else {
    body.classList.add("markdown");
    body.innerHTML = renderMarkdown(message.content); // sanitized: see markdown.ts
  }

  const article = h(
    "article",
    {
      class: classes.join(" "),
      id: domId(messageId),
      "data-id": messageId,
      "aria-busy": status === "streaming" ? "true" : null,
      "aria-label": `${message.is_bot ? "Bot" : message.username}, ${time(message.created_at, true)}`,
    },
    h(
      "header",
      {},
      h("span", { class: "author" }, message.is_bot ? "bot" : message.username),
      message.is_bot ? h("span", { class: "tag" }, "AI") : null,
      h("time", { datetime: message.created_at, title: new Date(message.created_at).toLocaleString() }, time(message.created_at)),
      message.edited_at && !message.deleted ? h("span", { class: "edited" }, "(edited)") : null,
      status === "stopped" ? h("span", { class: "edited" }, "(stopped)") : null,
    ),
  );
  if (message.reply_to && !message.is_bot) {
    const target = state.messages.get(message.reply_to);
    article.append(
      h("div", { class: "quote" }, "↪ ", target ? `${target.username}: ${snippet(target.deleted ? "(deleted)" : target.content)}` : "an earlier message"),
    );
  }
  article.append(body);
  const error = state.errors.get(messageId) ?? (status === "error" ? "The bot could not finish this answer." : null);
  if (error) article.append(h("p", { class: "bot-error", role: "alert" }, `⚠ ${error}`));
  if (message.attachments?.length && !message.deleted) article.append(renderAttachments(message));
  if (message.reactions?.length && !message.deleted) article.append(renderReactions(state, message));
  const actions = renderActions(state, message, mine);
  if (actions.childElementCount) article.append(actions);
  return article;
}

function renderAttachments(message: Message): HTMLElement {
  return h(
    "div",
    { class: "attachments" },
    ...(message.attachments ?? []).map((file) => {
      const safe = /^https?:\/\//i.test(file.url) ? file.url : null;
      const label = `${file.filename} (${bytes(file.size)})`;
      if (safe && file.content_type.startsWith("image/")) {
        return h("a", { href: safe, target: "_blank", rel: "noopener noreferrer", class: "image" }, h("img", { src: safe, alt: file.filename, loading: "lazy" }));
      }
      return safe ? h("a", { href: safe, target: "_blank", rel: "noopener noreferrer", class: "file" }, label) : h("span", { class: "file" }, label);
    }),
  );
}

function renderReactions(state: RoomState, message: Message): HTMLElement {
  const me = session?.user.username ?? "";
  return h(
    "div",
    { class: "reactions", role: "group", "aria-label": "Reactions" },
    ...(message.reactions ?? []).map((reaction) => {
      const mine = reaction.usernames.includes(me);
      return h(
        "button",
        {
          type: "button",
          class: "reaction",
          "aria-pressed": mine ? "true" : "false",
          title: reaction.usernames.join(", "),
          onclick: () => void react(state, message, reaction.emoji, !mine),
        },
        `${reaction.emoji} ${reaction.count}`,
      );
    }),
  );
}

function renderActions(state: RoomState, message: Message, mine: boolean): HTMLElement {
  const actions = h("div", { class: "actions" });
  const id = message.message_id;
  if (id.startsWith("pending:") || message.deleted) return actions;
  const status = message.status ?? "complete";
  const add = (label: string, handler: () => void, extra: Record<string, string> = {}) =>
    actions.append(h("button", { type: "button", class: "link", onclick: handler, ...extra }, label));
  if (features.botControl && message.is_bot && status === "streaming") {
    add("Stop", () => void botAction(state, message, "stop"), { "data-action": "stop" });
  }
  if (features.botControl && message.is_bot && status !== "streaming") {
    add("Regenerate", () => void botAction(state, message, "regenerate"), { "data-action": "regenerate" });
  }
  if (features.replies && !message.is_bot) {
    add("Reply", () => {
      replyTo = message;
      renderComposerTools(state);
      document.getElementById("composer-input")?.focus();
    });
  }
  if (features.editDelete && mine && message.message_type === "text") add("Edit", () => editMessage(state, message));
  if (features.editDelete && (mine || isOwner(state))) add("Delete", () => void deleteMessage(state, message));
  if (features.reactions) {
    const picker = h("span", { class: "picker", hidden: true, role: "group", "aria-label": "Add a reaction" });
    for (const emoji of QUICK_REACTIONS) {
      picker.append(h("button", { type: "button", class: "link", "aria-label": `React ${emoji}`, onclick: () => void react(state, message, emoji, true) }, emoji));
    }
    add("React", () => {
      picker.hidden = !picker.hidden;
      (picker.firstElementChild as HTMLElement | null)?.focus();
    });
    actions.append(picker);
  }
  return actions;
}

async function botAction(state: RoomState, message: Message, action: "stop" | "regenerate"): Promise<void> {
  try {
    await api.post(`/rooms/${enc(state.summary.room_id)}/messages/${enc(message.message_id)}/${action}`);
  } catch (error) {
    if (notOffered(error)) {
      features.botControl = false;
      saveFeatures();
      renderMessageNow(state, message.message_id);
    } else if (!(error instanceof ApiError && error.code === "conflict")) {
      flash(describe(error));
    }
  }
}

async function react(state: RoomState, message: Message, emoji: string, add: boolean): Promise<void> {
  try {
    const result = await api.request<{ reactions: Reaction[] }>(
      add ? "PUT" : "DELETE",
      `/rooms/${enc(state.summary.room_id)}/messages/${enc(message.message_id)}/reactions/${enc(emoji)}`,
    );
    const current = state.messages.get(message.message_id);
    if (current) upsert(state, { ...current, reactions: result.reactions });
  } catch (error) {
    flash(describe(error));
  }
}

function editMessage(state: RoomState, message: Message): void {
  const element = document.getElementById(domId(message.message_id));
  const body = element?.querySelector(".body");
  if (!element || !body) return;
  const input = h("textarea", { class: "edit", "aria-label": "Edit message", maxlength: 4000 });
  input.value = message.content;
  const save = async () => {
    try {
      const updated = await api.request<Message>(
        "PATCH",
        `/rooms/${enc(state.summary.room_id)}/messages/${enc(message.message_id)}`,
        { content: input.value },
      );
      upsert(state, updated);
    } catch (error) {
      flash(describe(error));
    }
  };
  const cancel = () => renderMessageNow(state, message.message_id);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void save();
    } else if (event.key === "Escape") cancel();
  });
  body.replaceWith(
    h(
      "div",
      { class: "body editing" },
      input,
      h("button", { type: "button", class: "primary", onclick: () => void save() }, "Save"),
      h("button", { type: "button", onclick: cancel }, "Cancel"),
    ),
  );
  input.focus();
}

async function deleteMessage(state: RoomState, message: Message): Promise<void> {
  if (!confirm("Delete this message?")) return;
  try {
    await api.request("DELETE", `/rooms/${enc(state.summary.room_id)}/messages/${enc(message.message_id)}`);
    const current = state.messages.get(message.message_id);
    if (current) upsert(state, { ...current, deleted: true, content: "", reactions: [], attachments: [] });
  } catch (error) {
    flash(describe(error));
  }
}

async function uploadFiles(state: RoomState, files: File[]): Promise<void> {
  const tools = document.getElementById("composer-tools");
  for (const file of files.slice(0, 4 - pendingAttachments.length)) {
    const progress = h("progress", { max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
    const row = h("span", { class: "chip" }, `${file.name} `, progress);
    tools?.append(row);
    try {
      const ticket = await api.post<UploadTicket>(`/rooms/${enc(state.summary.room_id)}/attachments`, {
        filename: file.name,
        content_type: file.type || "application/octet-stream",
        size: file.size,
      });
      await postFile(ticket, file, (fraction) => (progress.value = Math.round(fraction * 100)));
      pendingAttachments.push({ attachment_id: ticket.attachment_id, filename: file.name });
    } catch (error) {
      if (notOffered(error)) features.attachments = false;
      flash(`${file.name}: ${describe(error)}`);
    } finally {
      row.remove();
    }
  }
  renderComposerTools(state);
}

function postFile(ticket: UploadTicket, file: File, onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(ticket.upload.fields)) form.append(name, value);
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", ticket.upload.url);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    request.onload = () => (request.status < 300 ? resolve() : reject(new Error(`upload refused (HTTP ${request.status})`)));
    request.onerror = () => reject(new Error("upload failed"));
    request.send(form);
  });
}

// ---------------------------------------------------------------------------- dialogs
function dialog(title: string, ...content: Node[]): HTMLDialogElement {
  const heading = h("h2", { id: "dialog-title" }, title);
  const element = h(
    "dialog",
    { class: "card", "aria-labelledby": "dialog-title" },
    heading,
    ...content,
    h("form", { method: "dialog", class: "dialog-close" }, h("button", { type: "submit" }, "Close")),
  );
  element.addEventListener("close", () => element.remove());
  document.body.append(element);
  element.showModal();
  return element;
}

async function showMembers(state: RoomState): Promise<void> {
  const list = h("ul", { class: "members", id: "members" });
  const render = () => {
    const me = session?.user.username;
    list.replaceChildren(
      ...(state.members ?? []).map((member) => {
        const online = member.role === "bot" || state.online.has(member.username) || (member.online && member.username === me);
        const remove =
          features.moderation && isOwner(state) && member.role === "member"
            ? h("button", { type: "button", class: "link danger", onclick: () => void removeMember(state, member.username, render) }, "Remove")
            : null;
        return h(
          "li",
          {},
          h("span", { class: `dot ${online ? "on" : "off"}`, "aria-hidden": "true" }),
          h("span", { class: "member-name" }, member.username),
          h("span", { class: "muted" }, ` ${member.role}${online ? " · online" : ""}`),
          remove,
        );
      }),
    );
  };
  const invite = h("input", { name: "username", required: true, placeholder: "Username", "aria-label": "Username to invite", id: "invite-name" });
  const result = h("p", { class: "form-note", role: "status" });
  const inviteForm = h("form", { class: "inline-form" }, invite, h("button", { type: "submit" }, "Invite"));
  inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const room = await api.post<Room>(`/rooms/${enc(state.summary.room_id)}/invite`, { username: invite.value.trim() });
      state.members = room.members;
      result.textContent = `${invite.value.trim()} is in the room.`;
      invite.value = "";
      render();
    } catch (error) {
      result.textContent = error instanceof ApiError && error.status === 404 ? "No user has that name." : describe(error);
    }
  });
  const owner = h("div", { class: "owner-tools" });
  dialog(`Members of ${state.summary.name}`, list, h("h3", {}, "Invite someone"), inviteForm, result, owner);
  if (!state.members) await loadMembers(state);
  render();
  if (isOwner(state)) {
    if (features.moderation === null) await probeModeration(state);
    if (features.moderation) {
      render();
      owner.append(...moderationTools(state, result));
    }
  }
}

let attachmentsProbed = false;

async function probeAttachments(state: RoomState): Promise<void> {
  // An empty room shows no message to detect attachments from: an empty declaration is
  // refused by a server that offers them (422) and unknown otherwise. Nothing is created.
  attachmentsProbed = true;
  try {
    await api.post(`/rooms/${enc(state.summary.room_id)}/attachments`, {});
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 422)) {
      // Not offered (the route is missing), or no answer about it (offline, a 404 room): ask again later.
      if (!(error instanceof ApiError && error.routeMissing)) attachmentsProbed = false;
      return;
    }
    features.attachments = true;
    if (state.summary.room_id === currentRoomId) renderComposerTools(state);
  }
}

async function probeModeration(state: RoomState): Promise<void> {
  // An empty rename is refused by a server that offers moderation (422) and unknown otherwise.
  try {
    await api.request("PATCH", `/rooms/${enc(state.summary.room_id)}`, {});
    features.moderation = true;
  } catch (error) {
    features.moderation = !notOffered(error);
  }
}

function moderationTools(state: RoomState, result: HTMLElement): Node[] {
  const name = h("input", { name: "name", required: true, maxlength: 100, "aria-label": "Room name" });
  name.value = state.summary.name;
  const rename = h("form", { class: "inline-form" }, name, h("button", { type: "submit" }, "Rename"));
  rename.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const room = await api.request<Room>("PATCH", `/rooms/${enc(state.summary.room_id)}`, { name: name.value });
      addRoom(room);
      renderRoomHeader(state);
      result.textContent = "Renamed.";
    } catch (error) {
      result.textContent = describe(error);
    }
  });
  const newCode = h("button", { type: "button" }, "New join code");
  newCode.addEventListener("click", async () => {
    try {
      const room = await api.post<Room>(`/rooms/${enc(state.summary.room_id)}/code`);
      addRoom(room);
      renderRoomHeader(state);
      result.textContent = `The new code is ${room.code}; the old one no longer works.`;
    } catch (error) {
      result.textContent = describe(error);
    }
  });
  return [h("h3", {}, "Moderation"), rename, newCode];
}

async function removeMember(state: RoomState, username: string, render: () => void): Promise<void> {
  if (!confirm(`Remove ${username} from the room?`)) return;
  try {
    await api.request("DELETE", `/rooms/${enc(state.summary.room_id)}/members/${enc(username)}`);
    state.members = (state.members ?? []).filter((m) => m.username !== username);
    state.online.delete(username);
    render();
    renderPresence(state);
  } catch (error) {
    flash(describe(error));
  }
}

async function showBotSettings(state: RoomState): Promise<void> {
  let settings: BotSettings;
  try {
    settings = await api.get<BotSettings>(`/rooms/${enc(state.summary.room_id)}/bot`);
  } catch (error) {
    flash(describe(error));
    return;
  }
  const model = h("input", { name: "model", required: true, id: "bot-model" });
  model.value = settings.model;
  const prompt = h("textarea", { name: "system_prompt", rows: 4, id: "bot-prompt" });
  prompt.value = settings.system_prompt ?? "";
  const key = h("input", {
    type: "password",
    name: "gemini_api_key",
    id: "bot-key",
    autocomplete: "off",
    placeholder: settings.has_api_key ? "A key is set — type to replace it" : "No key — the stack's shared key is used if any",
  });
  const removeKey = h("input", { type: "checkbox", id: "bot-remove-key" });
  const note = h("p", { class: "form-note", role: "status", id: "bot-note" });
  const form = h(
    "form",
    { class: "stack-form" },
    h("label", { class: "field" }, "Model", model),
    h("label", { class: "field" }, "System prompt", prompt),
    h("label", { class: "field" }, "Gemini API key (write-only: never shown again)", key),
    settings.has_api_key ? h("label", { class: "check" }, removeKey, "Remove the room's key") : null,
    note,
    h("button", { type: "submit", class: "primary" }, "Save"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body: Record<string, unknown> = {};
    if (model.value.trim() !== settings.model) body.model = model.value.trim();
    if (prompt.value !== (settings.system_prompt ?? "")) body.system_prompt = prompt.value;
    if (key.value) body.gemini_api_key = key.value;
    else if (removeKey.checked) body.gemini_api_key = null;
    try {
      settings = await api.request<BotSettings>("PUT", `/rooms/${enc(state.summary.room_id)}/bot`, body);
      key.value = "";
      key.placeholder = settings.has_api_key ? "A key is set — type to replace it" : "No key";
      state.summary.has_api_key = settings.has_api_key;
      note.textContent = `Saved. ${settings.has_api_key ? "The room has its own key." : "The room has no key of its own."}`;
    } catch (error) {
      note.textContent = describe(error);
    }
  });
  dialog(`Bot in ${state.summary.name}`, form);
  model.focus();
}

async function leaveRoom(state: RoomState): Promise<void> {
  if (!confirm(`Leave “${state.summary.name}”?`)) return;
  try {
    await api.request("DELETE", `/rooms/${enc(state.summary.room_id)}/members/me`);
    socket?.send({ type: "leave", room_id: state.summary.room_id });
    dropRoom(state.summary.room_id);
    history.replaceState(null, "", location.pathname + location.search);
  } catch (error) {
    flash(describe(error));
  }
}

// ---------------------------------------------------------------------------- page events
window.addEventListener("online", () => socket?.reconnectNow());
// The browser knows it lost the network: say so now, not when TCP gives up on the socket.
window.addEventListener("offline", () => socket?.drop());
window.addEventListener("resize", () => scrollToBottom(false));
document.addEventListener("visibilitychange", () => {
  const state = currentRoomId ? rooms.get(currentRoomId) : undefined;
  if (state) markRead(state);
  if (document.visibilityState === "visible") socket?.reconnectNow();
});
// For the browser tests and the curious: drop the socket as a network failure would.
(window as unknown as { chatDebug: object }).chatDebug = {
  dropSocket: () => socket?.drop(),
  socketState: () => socket?.state ?? "offline",
  features: () => ({ ...features }),
};
void main();
