// The server's frames, each applied to the state; the page is told what changed.
import type { Message, Reaction, Source, ToolCall } from "./api";
import { features, saveFeatures } from "./features";
import { insertSorted, markRead, upsert } from "./messages";
import { onMention } from "./notify";
import { flash } from "./page";
import { dropRoom, loadMembers } from "./rooms";
import type { Frame } from "./socket";
import { app, isCurrent, rooms, type RoomState, view } from "./state";
import { onTyping } from "./typing";

export function onFrame(frame: Frame): void {
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
        if (roomId === app.currentRoomId) view.presence(state);
      }
      return;
    case "presence":
      if (!state) return;
      if (frame.status === "online") state.online.add(String(frame.username));
      else state.online.delete(String(frame.username));
      if (roomId === app.currentRoomId) view.presence(state);
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
      view.rooms();
      if (roomId === app.currentRoomId) view.roomHeader(state);
      return;
    case "removed":
      if (state) {
        flash(`You were removed from “${state.summary.name}”.`);
        dropRoom(state.summary.room_id);
      }
      return;
    case "mention":
      onMention(frame);
      return;
    case "error":
      if (frame.code === "unauthorized") view.signOut("Your session has expired. Please sign in again.");
      else if (frame.request_type !== "typing" && frame.request_type !== "join") flash(String(frame.message ?? frame.code));
      return;
    default:
      return; // joined/left/pong and frames this client does not know
  }
}

function onNewMessage(state: RoomState, message: Message): void {
  state.summary.last_message_at = message.created_at;
  const mine = message.username === app.session?.user.username;
  if (!mine) {
    onTyping(state, message.username, false);
    if (isCurrent(state) && document.visibilityState === "visible") {
      markRead(state);
    } else if (features.readState) {
      state.summary.unread_count = Math.min(100, (state.summary.unread_count ?? 0) + 1);
    } else {
      state.newSinceSeen += 1;
    }
  }
  view.rooms();
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
    username: typeof frame.username === "string" ? frame.username : "bot",
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
      ...(Array.isArray(frame.tool_calls) ? { tool_calls: frame.tool_calls as ToolCall[] } : {}),
      ...(Array.isArray(frame.sources) ? { sources: frame.sources as Source[] } : {}),
    };
  } else {
    next = { ...message, content: applyChunk(message.content, String(frame.chunk ?? ""), frame.offset), status: "streaming" };
  }
  state.messages.set(next.message_id, next);
  if (isNew) {
    insertSorted(state.order, next.message_id);
    onNewMessage(state, next);
  }
  if (!isCurrent(state)) return;
  if (frame.is_complete || isNew) view.message(state, next.message_id);
  else view.messageSoon(next.message_id); // at most one Markdown render per frame while streaming
}

function onBotError(state: RoomState, frame: Frame): void {
  const message = botMessage(state, frame);
  const isNew = !state.messages.has(message.message_id);
  state.errors.set(message.message_id, `${String(frame.message ?? "The bot could not answer")} (${String(frame.code ?? "error")})`);
  state.messages.set(message.message_id, { ...message, status: "error" });
  if (isNew) insertSorted(state.order, message.message_id);
  if (isCurrent(state)) view.message(state, message.message_id);
}
