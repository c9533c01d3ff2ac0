// The rooms this user is in: the list, joining and leaving it, and their members.
import { ApiError, describe, enc, type Member, type Room, type RoomSummary } from "./api";
import { h } from "./dom";
import { features } from "./features";
import { membersLoaded } from "./notify";
import { flash, ui } from "./page";
import { app, isCurrent, rooms, roomState, type RoomState, view } from "./state";

export async function refreshRooms(): Promise<void> {
  const asked = Date.now();
  const { rooms: summaries } = await app.api.get<{ rooms: RoomSummary[] }>("/rooms");
  const seen = new Set<string>();
  for (const summary of summaries) {
    seen.add(summary.room_id);
    if ("unread_count" in summary) features.readState = true;
    if ("mention_count" in summary && !features.notifications) {
      features.notifications = true;
      view.notifications();
    }
    const state = rooms.get(summary.room_id);
    if (state) {
      state.summary = { ...state.summary, ...summary };
    } else {
      rooms.set(summary.room_id, roomState(summary));
      app.socket?.send({ type: "join", room_id: summary.room_id }); // invited meanwhile: follow it live
    }
  }
  for (const [id, state] of [...rooms]) if (!seen.has(id) && state.addedAt < asked) dropRoom(id);
  view.rooms();
}

export function addRoom(room: Room): void {
  const { members, ...summary } = room;
  const state = rooms.get(room.room_id) ?? roomState({ ...summary, last_message_at: null });
  state.summary = { ...state.summary, ...summary };
  state.members = members;
  state.addedAt = Date.now();
  rooms.set(room.room_id, state);
  app.socket?.send({ type: "join", room_id: room.room_id });
  view.rooms();
}

export function dropRoom(roomId: string): void {
  rooms.delete(roomId);
  if (app.currentRoomId === roomId) {
    app.currentRoomId = null;
    ui.layout.classList.remove("room-open");
    ui.roomView.replaceChildren(h("div", { class: "empty" }, h("p", {}, "You are no longer in that room.")));
  }
  view.rooms();
}

export async function loadMembers(state: RoomState): Promise<void> {
  try {
    const { members } = await app.api.get<{ members: Member[] }>(`/rooms/${enc(state.summary.room_id)}/members`);
    state.members = members;
    for (const member of members) if (member.online) state.online.add(member.username);
    if (isCurrent(state)) view.presence(state);
    membersLoaded(state);
  } catch (error) {
    handleRoomError(state, error);
  }
}

export function handleRoomError(state: RoomState, error: unknown): void {
  if (error instanceof ApiError && error.status === 404 && error.code === "not_found") {
    dropRoom(state.summary.room_id);
    flash(`You are no longer a member of “${state.summary.name}”.`);
  } else if (!(error instanceof ApiError && error.status === 401)) {
    flash(describe(error));
  }
}
