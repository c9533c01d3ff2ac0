// The REST side of docs/API.md: types, one request function, errors in the contract's shape.

export interface Config {
  rest_url: string;
  ws_url: string;
}

export interface User {
  user_id: string;
  username: string;
  email: string | null;
  created_at: string;
}

export interface AuthResponse {
  user: User;
  access_token: string;
  token_type: string;
  expires_in: number;
}

export interface Member {
  username: string;
  role: "owner" | "member" | "bot";
  joined_at: string;
  online: boolean;
  last_read_message_id?: string | null;
}

export interface RoomSummary {
  room_id: string;
  code: string;
  name: string;
  owner: string;
  is_group: boolean;
  created_at: string;
  has_api_key: boolean;
  last_message_at?: string | null;
  last_read_message_id?: string | null;
  unread_count?: number;
  // Mentions and notifications: unread messages that mention the caller, and their level.
  mention_count?: number;
  notifications?: "all" | "mentions" | "none";
}

export interface Room extends RoomSummary {
  members: Member[];
}

export type Tool = "room_search" | "web_search";

export interface BotSettings {
  model: string;
  system_prompt: string | null;
  has_api_key: boolean;
  // Tools and budgets: present once the server implements them.
  tools?: Tool[];
  monthly_token_budget?: number | null;
  answers_replies?: boolean;
}

/** A bot of a room: the default one ("bot") or a named one the owner added. */
export interface Bot extends BotSettings {
  name: string;
}

/** A tool a bot answer used: a search of the room, or of the web. */
export interface ToolCall {
  tool: Tool;
  query: string;
}

/** A web page a grounded answer cites. */
export interface Source {
  title: string;
  url: string;
}

export interface AnswerUsage {
  input_tokens: number;
  output_tokens: number;
}

export interface UsageReport {
  month: string;
  bots: { name: string; answers: number; input_tokens: number; output_tokens: number }[];
}

export interface Reaction {
  emoji: string;
  count: number;
  usernames: string[];
}

export interface Attachment {
  attachment_id: string;
  filename: string;
  content_type: string;
  size: number;
  url: string;
}

export type MessageStatus = "complete" | "streaming" | "error" | "stopped";

export interface Message {
  message_id: string;
  room_id: string;
  username: string;
  content: string;
  message_type: "text" | "command" | "bot";
  is_bot: boolean;
  created_at: string;
  client_id?: string | null;
  reply_to?: string | null;
  status?: MessageStatus;
  // Conversation features and attachments: present once the server implements them.
  edited_at?: string | null;
  deleted?: boolean;
  reactions?: Reaction[];
  attachments?: Attachment[];
  // A bot answer's tools, cited pages and token usage.
  tool_calls?: ToolCall[];
  sources?: Source[];
  usage?: AnswerUsage | null;
  mentions?: string[]; // the members it mentions
  // A private command and its answer: the one user who sees them.
  visible_to?: string | null;
}

export interface MessagePage {
  messages: Message[];
  next_before?: string | null;
  next_after?: string | null;
}

export interface UploadTicket {
  attachment_id: string;
  upload: { url: string; fields: Record<string, string> };
  expires_in: number;
}

/** An error answer in the contract's shape, a gateway answer, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
    /** The route itself does not exist (API Gateway's own 403/404, a 405): a feature not offered. */
    readonly routeMissing = false,
  ) {
    super(message);
  }
}

export class Api {
  token: string | null = null;
  /** Called on every 401 from an authenticated route: the session is over. */
  onUnauthorized: () => void = () => {};

  constructor(readonly config: Config) {}

  /** `endsSession` false: a 401 here does not end the session (a password asked for again
   * may be wrong; the caller checks the session itself). */
  async request<T>(method: string, path: string, body?: unknown, endsSession = true): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await fetch(this.config.rest_url.replace(/\/$/, "") + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      // Offline, or a preflight refused (which is also how a route that does not exist answers).
      throw new ApiError(0, "network", "The server cannot be reached");
    }
    if (response.status === 204) return undefined as T;
    let data: unknown = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (response.ok) return data as T;
    const error = (data as { error?: { code?: string; message?: string; details?: unknown } })?.error;
    if (!error?.code) {
      const missing = [403, 404, 405].includes(response.status);
      throw new ApiError(response.status, missing ? "route_missing" : "http", `HTTP ${response.status}`, null, missing);
    }
    if (response.status === 401 && this.token && endsSession) this.onUnauthorized();
    const retry = response.headers.get("Retry-After");
    const message = error.message ?? `HTTP ${response.status}`;
    throw new ApiError(
      response.status,
      error.code,
      retry && response.status === 429 ? `${message} (retry in ${retry} s)` : message,
      error.details ?? null,
    );
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body ?? {});
  }
}

export const enc = encodeURIComponent;

/** Whether an error means "this server does not offer the route" rather than a real failure. */
export function notOffered(error: unknown): boolean {
  return error instanceof ApiError && (error.routeMissing || error.status === 0);
}

/** The validation details of a 422 as one line per field. */
export function describe(error: unknown): string {
  if (!(error instanceof ApiError)) return String(error);
  const details = Array.isArray(error.details) ? error.details : [];
  const fields = details
    .map((d: { loc?: unknown[]; field?: string; msg?: string; message?: string }) => {
      const where = d.field ?? (Array.isArray(d.loc) ? d.loc[d.loc.length - 1] : "");
      const what = d.msg ?? d.message ?? "";
      return where ? `${where}: ${what}` : what;
    })
    .filter(Boolean);
  return fields.length ? `${error.message} — ${fields.join("; ")}` : error.message;
}
