// Features the contract describes but a server may not offer yet (conversation features,
// bot control, attachments, moderation) are detected from what the server sends (fields
// present in messages and summaries, `seq` in bot_stream frames) or from a route that does
// not exist, and their controls stay hidden until then.
import { ApiError, enc, type Message, notOffered } from "./api";
import { app, currentRoom, isCurrent, type RoomState, view } from "./state";

const FEATURES_KEY = "chat.features";

export const features = {
  reactions: false, // `reactions` in messages
  editDelete: false, // `edited_at` / `deleted` in messages
  replies: false, // with the other conversation features
  readState: false, // `unread_count` in RoomSummary
  attachments: false, // `attachments` in messages
  botControl: false, // `seq` in bot_stream frames
  catchUpAfter: true, // `next_after` in an ?after= page; false once a server ignored it
  moderation: null as boolean | null, // probed once, owner only
  notifications: false, // `mention_count` in RoomSummary, or a `mention` frame
};
Object.assign(features, JSON.parse(sessionStorage.getItem(FEATURES_KEY) ?? "{}"));

/** Bot control is remembered for the tab: a reload shows Stop before the first frame. */
export function saveFeatures(): void {
  sessionStorage.setItem(FEATURES_KEY, JSON.stringify({ botControl: features.botControl }));
}

export function noteFeatures(message: Message): void {
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
  const state = currentRoom();
  if (changed && state) view.composer(state);
}

let attachmentsProbed = false;

/** Once per page, unless the answer was no answer: whether the server takes attachments. */
export async function probeAttachments(state: RoomState): Promise<void> {
  if (features.attachments || attachmentsProbed) return;
  // An empty room shows no message to detect attachments from: an empty declaration is
  // refused by a server that offers them (422) and unknown otherwise. Nothing is created.
  attachmentsProbed = true;
  try {
    await app.api.post(`/rooms/${enc(state.summary.room_id)}/attachments`, {});
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 422)) {
      // Not offered (the route is missing), or no answer about it (offline, a 404 room): ask again later.
      if (!(error instanceof ApiError && error.routeMissing)) attachmentsProbed = false;
      return;
    }
    features.attachments = true;
    if (isCurrent(state)) view.composer(state);
  }
}

export async function probeModeration(state: RoomState): Promise<void> {
  // An empty rename is refused by a server that offers moderation (422) and unknown otherwise.
  try {
    await app.api.request("PATCH", `/rooms/${enc(state.summary.room_id)}`, {});
    features.moderation = true;
  } catch (error) {
    features.moderation = !notOffered(error);
  }
}
