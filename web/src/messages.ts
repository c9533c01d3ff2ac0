// A room's messages: the pages loaded (newest first, older on demand, everything since
// after a reconnect), sending, and how far this user has read.
import { ApiError, describe, enc, type Message, type MessagePage, notOffered } from "./api";
import { features, noteFeatures } from "./features";
import { flash } from "./page";
import { handleRoomError, loadMembers, refreshRooms } from "./rooms";
import { app, currentRoom, isCurrent, lastStoredId, rooms, type RoomState, view } from "./state";

const PAGE = 50;

export function upsert(state: RoomState, incoming: Message, { fromServer = true } = {}): void {
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
  if (isCurrent(state)) view.message(state, message.message_id);
}

export function insertSorted(order: string[], id: string): void {
  if (id.startsWith("pending:")) {
    order.push(id);
    return;
  }
  let index = order.length;
  while (index > 0 && (order[index - 1].startsWith("pending:") || order[index - 1] > id)) index -= 1;
  order.splice(index, 0, id);
}

export function domId(messageId: string): string {
  return `m-${messageId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

export async function loadLatest(state: RoomState): Promise<void> {
  try {
    const page = await app.api.get<MessagePage>(`/rooms/${enc(state.summary.room_id)}/messages?limit=${PAGE}`);
    const wasLoaded = state.loaded;
    state.loaded = true;
    if (!wasLoaded) state.nextBefore = page.next_before ?? null;
    for (const message of page.messages) upsert(state, message);
    if (isCurrent(state)) {
      view.olderButton(state);
      view.scrollToBottom(true);
      markRead(state);
    }
  } catch (error) {
    handleRoomError(state, error);
  }
}

export async function loadOlder(state: RoomState): Promise<void> {
  if (state.loadingOlder || !state.nextBefore) return;
  state.loadingOlder = true;
  view.olderButton(state);
  const log = document.getElementById("messages");
  const fromBottom = log ? log.scrollHeight - log.scrollTop : 0;
  try {
    const page = await app.api.get<MessagePage>(
      `/rooms/${enc(state.summary.room_id)}/messages?limit=${PAGE}&before=${enc(state.nextBefore)}`,
    );
    state.nextBefore = page.next_before ?? null;
    for (const message of page.messages) upsert(state, message);
    if (log) log.scrollTop = log.scrollHeight - fromBottom; // keep what the reader was looking at
  } catch (error) {
    handleRoomError(state, error);
  } finally {
    state.loadingOlder = false;
    if (isCurrent(state)) view.olderButton(state);
  }
}

/** After a reconnect: everything stored since the newest message we have. */
export async function catchUp(state: RoomState): Promise<void> {
  const last = lastStoredId(state);
  if (!last || !features.catchUpAfter) return loadLatest(state);
  let after: string | null = last;
  try {
    for (let pages = 0; after && pages < 20; pages += 1) {
      const page: MessagePage = await app.api.get<MessagePage>(
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

export async function resync(): Promise<void> {
  // Rejoin every room (live messages, presence, unread counts), then catch up.
  try {
    await refreshRooms();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) flash(describe(error));
    return;
  }
  for (const state of rooms.values()) {
    state.online.clear();
    app.socket?.send({ type: "join", room_id: state.summary.room_id });
  }
  await Promise.all([...rooms.values()].filter((s) => s.loaded).map((state) => catchUp(state)));
  const current = currentRoom();
  if (current) {
    void loadMembers(current);
    markRead(current);
  }
}

/** Sends the draft (and the files uploaded for it), shown at once and replaced by what the
 * server stored; false when it was refused (the draft is the caller's to give back). A send
 * goes once the one before it in the room was answered, so the room stores a person's
 * messages in the order they were written, however fast they come. */
export async function send(state: RoomState, content: string): Promise<boolean> {
  const clientId = crypto.randomUUID();
  const body: Record<string, unknown> = { content, client_id: clientId };
  if (app.replyTo) body.reply_to = app.replyTo.message_id;
  if (app.pendingAttachments.length) body.attachments = app.pendingAttachments.map((a) => a.attachment_id);
  if (app.privateDraft) body.private = true;
  const optimistic: Message = {
    message_id: `pending:${clientId}`,
    room_id: state.summary.room_id,
    username: app.session!.user.username,
    content,
    message_type: "text",
    is_bot: false,
    created_at: new Date().toISOString(),
    client_id: clientId,
    status: "complete",
  };
  upsert(state, optimistic, { fromServer: false });
  view.scrollToBottom(true);
  const before = state.sending;
  let sent = () => {};
  state.sending = new Promise((resolve) => (sent = resolve));
  try {
    await before;
    const stored = await app.api.post<Message>(`/rooms/${enc(state.summary.room_id)}/messages`, body);
    upsert(state, stored);
    app.replyTo = null;
    app.pendingAttachments = [];
    app.privateDraft = false;
    view.composer(state);
    state.summary.last_message_at = stored.created_at;
    view.rooms();
    return true;
  } catch (error) {
    state.messages.delete(optimistic.message_id);
    state.order.splice(state.order.indexOf(optimistic.message_id), 1);
    document.getElementById(domId(optimistic.message_id))?.remove();
    flash(describe(error));
    return false;
  } finally {
    sent();
  }
}

let readTimer: number | undefined;

export function markRead(state: RoomState): void {
  if (!features.readState || !isCurrent(state) || document.visibilityState !== "visible") return;
  window.clearTimeout(readTimer);
  readTimer = window.setTimeout(async () => {
    const last = lastStoredId(state);
    if (!last || (state.summary.last_read_message_id ?? "") >= last) return;
    try {
      const read = await app.api.request<{ last_read_message_id: string; unread_count: number }>(
        "PUT",
        `/rooms/${enc(state.summary.room_id)}/read`,
        { message_id: last },
      );
      state.summary.last_read_message_id = read.last_read_message_id;
      state.summary.unread_count = read.unread_count;
      if (read.unread_count === 0) state.summary.mention_count = 0; // mentions are among the unread
      view.rooms();
    } catch (error) {
      if (notOffered(error)) features.readState = false;
    }
  }, 400);
}
