// Search (docs/API.md, Search; docs/search.md): the box in the top bar, the results, and
// the words to highlight in them.
//
// Highlighting follows the server's tokenizer (chat/logic/search/terms.py) closely enough to
// mark what was found: words are runs of letters, digits and marks, each CJK character a word
// of its own, compared case- and accent-insensitively. The server decides what is a result.
import { describe, type Message } from "./api";
import { h, time } from "./dom";
import { openRoomAt } from "./room-view";
import { refreshRooms } from "./rooms";
import { app, rooms } from "./state";

export interface SearchResults {
  results: Message[];
  next_before: string | null;
}

const PAGE = 20;
const SNIPPET = 220; // characters of a long message shown around its first match
const RUN = /[\p{L}\p{N}\p{M}]+/gu;
const SINGLE = /[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{3134f}]/u;

/** A word as the server compares it: case-folded, without accents. */
export function normalize(word: string): string {
  return word
    .toLowerCase()
    .normalize("NFKD")
    .replace(/\p{Mn}/gu, "")
    .normalize("NFC")
    .replace(/ß/g, "ss")
    .replace(/ς/g, "σ");
}

interface Word {
  start: number;
  end: number;
  term: string;
}

/** The words of a text with their places in it. */
export function words(text: string): Word[] {
  const found: Word[] = [];
  for (const match of text.matchAll(RUN)) {
    let start = match.index ?? 0;
    let run = "";
    const flush = (end: number) => {
      const term = normalize(run);
      if (term) found.push({ start, end, term });
      run = "";
    };
    let offset = start;
    for (const char of match[0]) {
      if (SINGLE.test(char)) {
        if (run) flush(offset);
        found.push({ start: offset, end: offset + char.length, term: normalize(char) });
        start = offset + char.length;
      } else {
        if (!run) start = offset;
        run += char;
      }
      offset += char.length;
    }
    if (run) flush(offset);
  }
  return found;
}

/** Every word of a query must be there; the last one also as the start of a word. */
export function matcher(query: string): (term: string) => boolean {
  const terms = words(query).map((word) => word.term);
  const prefix = terms.pop() ?? "";
  const exact = new Set(terms);
  return (term) => exact.has(term) || (prefix !== "" && term.startsWith(prefix));
}

/** The text (around its first match when long) with the matched words in <mark>. */
export function highlighted(text: string, query: string): Node[] {
  const isMatch = matcher(query);
  const marked = words(text).filter((word) => isMatch(word.term));
  let from = 0;
  let to = text.length;
  if (text.length > SNIPPET) {
    from = Math.max(0, (marked[0]?.start ?? 0) - 60);
    to = Math.min(text.length, from + SNIPPET);
  }
  const nodes: Node[] = [];
  if (from > 0) nodes.push(document.createTextNode("…"));
  let at = from;
  for (const word of marked) {
    if (word.start < from || word.end > to) continue;
    if (word.start > at) nodes.push(document.createTextNode(text.slice(at, word.start)));
    nodes.push(h("mark", {}, text.slice(word.start, word.end)));
    at = word.end;
  }
  if (at < to) nodes.push(document.createTextNode(text.slice(at, to)));
  if (to < text.length) nodes.push(document.createTextNode("…"));
  return nodes;
}

/** The search box; its results open in a dialog, and a result opens its room at it. */
export function searchBox(): HTMLElement {
  const input = h("input", {
    type: "search",
    id: "search-input",
    name: "q",
    maxlength: 200,
    placeholder: "Search messages",
    "aria-label": "Search messages",
    autocomplete: "off",
  });
  const form = h("form", { class: "search", role: "search" }, input, h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (q) void showResults(q);
  });
  return form;
}

function roomName(roomId: string): string {
  return rooms.get(roomId)?.summary.name ?? "a room";
}

async function showResults(q: string): Promise<void> {
  const roomId = app.currentRoomId;
  const list = h("ul", { class: "results", id: "search-results", "aria-live": "polite" });
  const status = h("p", { class: "muted", id: "search-status" }, "Searching…");
  const more = h("button", { type: "button", id: "search-more", hidden: true }, "More results");
  const inRoom = h("input", { type: "checkbox", id: "search-in-room", disabled: !roomId });
  const scope = h(
    "label",
    { class: "check" },
    inRoom,
    roomId ? `only in ${roomName(roomId)}` : "only in the open room",
  );
  const element = h(
    "dialog",
    { class: "card search-dialog", "aria-labelledby": "search-title" },
    h("h2", { id: "search-title" }, `Search: ${q}`),
    scope,
    status,
    list,
    more,
    h("form", { method: "dialog", class: "dialog-close" }, h("button", { type: "submit" }, "Close")),
  );
  element.addEventListener("close", () => element.remove());
  document.body.append(element);
  element.showModal();

  let before: string | null = null;
  const load = async (fresh: boolean) => {
    if (fresh) {
      before = null;
      list.replaceChildren();
    }
    status.textContent = "Searching…";
    more.hidden = true;
    const params = new URLSearchParams({ q, limit: String(PAGE) });
    if (inRoom.checked && roomId) params.set("room_id", roomId);
    if (before) params.set("before", before);
    try {
      const page = await app.api.get<SearchResults>(`/search?${params}`);
      // Results name their rooms: a room not listed yet (the list still loading, or joined
      // elsewhere meanwhile) is fetched with the list first.
      if (page.results.some((message) => !rooms.has(message.room_id))) {
        await refreshRooms().catch(() => undefined);
      }
      for (const message of page.results) list.append(result(element, message, q));
      before = page.next_before;
      more.hidden = !before;
      status.textContent = list.childElementCount ? "" : "No messages found.";
    } catch (error) {
      status.textContent = describe(error);
    }
  };
  inRoom.addEventListener("change", () => void load(true));
  more.addEventListener("click", () => void load(false));
  await load(true);
}

function result(dialog: HTMLDialogElement, message: Message, q: string): HTMLElement {
  const button = h(
    "button",
    {
      type: "button",
      class: "result",
      "data-id": message.message_id,
      onclick: () => {
        dialog.close();
        void openRoomAt(message.room_id, message.message_id);
      },
    },
    h(
      "span",
      { class: "result-meta" },
      h("span", { class: "result-room" }, roomName(message.room_id)),
      h("span", { class: "author" }, message.is_bot ? "bot" : message.username),
      h("time", { datetime: message.created_at, title: new Date(message.created_at).toLocaleString() }, time(message.created_at, true)),
    ),
    h("span", { class: "result-text" }, ...highlighted(message.content, q)),
  );
  return h("li", {}, button);
}
