// "… is typing": shown for others (each expires on its own), sent for this user while the
// draft changes, and stopped when it is sent, emptied or left.
import { app, isCurrent, type RoomState, view } from "./state";

const TYPING_IDLE_MS = 4000;
const TYPING_EXPIRE_MS = 8000;

let typingSentAt = 0;
let typingStopTimer: number | undefined;

export function onTyping(state: RoomState, username: string, isTyping: boolean): void {
  if (username === app.session?.user.username) return;
  window.clearTimeout(state.typing.get(username));
  if (isTyping) {
    state.typing.set(
      username,
      window.setTimeout(() => onTyping(state, username, false), TYPING_EXPIRE_MS),
    );
  } else {
    state.typing.delete(username);
  }
  if (isCurrent(state)) view.typing(state);
}

export function sendTyping(state: RoomState): void {
  const now = Date.now();
  if (now - typingSentAt > TYPING_IDLE_MS - 1000) {
    typingSentAt = now;
    app.socket?.send({ type: "typing", room_id: state.summary.room_id, is_typing: true });
  }
  window.clearTimeout(typingStopTimer);
  typingStopTimer = window.setTimeout(() => stopTyping(state), TYPING_IDLE_MS);
}

export function stopTyping(state: RoomState): void {
  window.clearTimeout(typingStopTimer);
  if (!typingSentAt) return;
  typingSentAt = 0;
  app.socket?.send({ type: "typing", room_id: state.summary.room_id, is_typing: false });
}
