// What the client knows: the session, the rooms with their messages, the open room, the
// draft being composed. The modules that change it ask the page to show the change through
// `view`, which the page's modules fill in at start: the state never imports the page.
import type { Api, Config, Member, Message, RoomSummary, User } from "./api";
import type { ChatSocket } from "./socket";

export interface Session {
  token: string;
  expires_at: number;
  user: User;
}

export interface RoomState {
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
  sending: Promise<void>; // the last send: each waits for the one before (the room keeps their order)
}

export interface PendingAttachment {
  attachment_id: string;
  filename: string;
}

export const app = {
  config: undefined as unknown as Config, // set by main() before anything runs
  api: undefined as unknown as Api,
  session: null as Session | null,
  socket: null as ChatSocket | null,
  currentRoomId: null as string | null,
  replyTo: null as Message | null, // the message the draft answers
  pendingAttachments: [] as PendingAttachment[], // uploaded, to be sent with the draft
  privateDraft: false, // the draft is a private bot command (only its author sees it)
};

export const rooms = new Map<string, RoomState>();

/** How the page shows a change; each is set by the module that draws that part. */
export const view = {
  rooms: (): void => {},
  message: (_state: RoomState, _messageId: string): void => {},
  /** At most one render per animation frame (a streaming answer). */
  messageSoon: (_messageId: string): void => {},
  scrollToBottom: (_force: boolean): void => {},
  olderButton: (_state: RoomState): void => {},
  composer: (_state: RoomState): void => {},
  presence: (_state: RoomState): void => {},
  typing: (_state: RoomState): void => {},
  roomHeader: (_state: RoomState): void => {},
  signOut: (_notice: string): void => {},
  /** The top bar's notifications control (its permission or subscription changed). */
  notifications: (): void => {},
};

export function roomState(summary: RoomSummary): RoomState {
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
    sending: Promise.resolve(),
  };
}

export function currentRoom(): RoomState | undefined {
  return app.currentRoomId ? rooms.get(app.currentRoomId) : undefined;
}

export function isCurrent(state: RoomState): boolean {
  return state.summary.room_id === app.currentRoomId;
}

export function isOwner(state: RoomState): boolean {
  return state.summary.owner === app.session?.user.username;
}

/** The newest message the server stored (not one still being sent). */
export function lastStoredId(state: RoomState): string | undefined {
  return [...state.order].reverse().find((id) => !id.startsWith("pending:"));
}
