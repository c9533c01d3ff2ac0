// The chat in a browser, written against docs/API.md only. Its modules, from the top down:
//
//   main.ts          starts it, wires `view`, listens to the page's events
//   session.ts       signing in and out            layout.ts     the top bar and the room list
//   room-view.ts     the open room                 composer.ts   the draft, replies, uploads
//   frames.ts        the server's frames applied   message-view.ts  one message and its actions
//   messages.ts      a room's messages, sending    dialogs.ts    members, bot settings, leaving
//   rooms.ts         the rooms and their members   typing.ts     "… is typing", both ways
//   features.ts      what the server offers        page.ts       the page's fixed parts
//   search.ts        the search box and its results
//   settings.ts      the account: change the password, delete the account
//   state.ts         what the client knows, and `view`: how the page shows a change
//   api.ts socket.ts dom.ts markdown.ts            the contract's two sides, elements, Markdown
import { Api, type Config } from "./api";
import { renderComposerTools } from "./composer";
import { h } from "./dom";
import { features } from "./features";
import { renderRooms } from "./layout";
import { renderMessageNow, scheduleRender, scrollToBottom } from "./message-view";
import { markRead } from "./messages";
import { root } from "./page";
import { renderOlderButton, renderPresence, renderRoomHeader, renderTyping } from "./room-view";
import { loadSession, showLogin, signOut, startSession } from "./session";
import { app, currentRoom, view } from "./state";

Object.assign(view, {
  rooms: renderRooms,
  message: renderMessageNow,
  messageSoon: scheduleRender,
  scrollToBottom,
  olderButton: renderOlderButton,
  composer: renderComposerTools,
  presence: renderPresence,
  typing: renderTyping,
  roomHeader: renderRoomHeader,
  signOut,
} satisfies typeof view);

async function main(): Promise<void> {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    app.config = (await response.json()) as Config;
    if (!app.config.rest_url || !app.config.ws_url) throw new Error("config.json needs rest_url and ws_url");
  } catch (error) {
    root.replaceChildren(h("p", { class: "fatal", role: "alert" }, `Cannot load config.json: ${error}`));
    return;
  }
  app.api = new Api(app.config);
  app.api.onUnauthorized = () => signOut("Your session has expired. Please sign in again.");
  const stored = loadSession();
  if (stored) {
    await startSession(stored);
  } else {
    showLogin();
  }
}

window.addEventListener("online", () => app.socket?.reconnectNow());
// The browser knows it lost the network: say so now, not when TCP gives up on the socket.
window.addEventListener("offline", () => app.socket?.drop());
window.addEventListener("resize", () => scrollToBottom(false));
document.addEventListener("visibilitychange", () => {
  const state = currentRoom();
  if (state) markRead(state);
  if (document.visibilityState === "visible") app.socket?.reconnectNow();
});
// For the browser tests and the curious: drop the socket as a network failure would.
(window as unknown as { chatDebug: object }).chatDebug = {
  dropSocket: () => app.socket?.drop(),
  socketState: () => app.socket?.state ?? "offline",
  features: () => ({ ...features }),
};
void main();
