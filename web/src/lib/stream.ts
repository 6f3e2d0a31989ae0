// stream.ts reads a text/event-stream with fetch (EventSource cannot send
// the portal's header) and hands each message to the caller.
export type StreamMessage = { id: string; event: string; data: string };

/** parseSSE splits stream text into whole messages and returns the unfinished rest. */
export function parseSSE(buffer: string): { messages: StreamMessage[]; rest: string } {
  const messages: StreamMessage[] = [];
  const blocks = buffer.replace(/\r\n/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    const m: StreamMessage = { id: "", event: "message", data: "" };
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // a comment: keep-alive
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "id") m.id = value;
      else if (field === "event") m.event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) messages.push({ ...m, data: data.join("\n") });
  }
  return { messages, rest };
}

/** follow reads url until signal aborts, calling onMessage for each message. */
export async function follow(url: string, headers: Record<string, string>, signal: AbortSignal,
  onMessage: (m: StreamMessage) => void): Promise<void> {
  const res = await fetch(url, { headers: { Accept: "text/event-stream", ...headers }, credentials: "same-origin", signal });
  if (!res.ok || !res.body) throw new Error(`the live stream answered ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const { messages, rest } = parseSSE(buffer + value);
    buffer = rest;
    messages.forEach(onMessage);
  }
}
