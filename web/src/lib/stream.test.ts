import { describe, expect, it } from "vitest";
import { parseSSE } from "./stream";

describe("parseSSE", () => {
  it("splits whole messages and keeps the unfinished rest", () => {
    const { messages, rest } = parseSSE('id: 7\nevent: event\ndata: {"id":"evt_1"}\n\n: keep-alive\n\nid: 8\nevent: ev');
    expect(messages).toEqual([{ id: "7", event: "event", data: '{"id":"evt_1"}' }]);
    expect(rest).toBe("id: 8\nevent: ev");
    const next = parseSSE(rest + 'ent\ndata: {"id":"evt_2"}\n\n');
    expect(next.messages).toEqual([{ id: "8", event: "event", data: '{"id":"evt_2"}' }]);
    expect(next.rest).toBe("");
  });
  it("joins data lines and reads CRLF", () => {
    expect(parseSSE("data: a\r\ndata: b\r\n\r\n").messages).toEqual([{ id: "", event: "message", data: "a\nb" }]);
  });
});
