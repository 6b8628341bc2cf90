// A scripted model endpoint for the dashboard check: speaks the Anthropic Messages API (streaming and plain) so the
// real Claude Code CLI runs against it; the n-th request of a conversation (counted by its tool results) gets the n-th
// scripted turn. Usage: node model.mjs HOST  (prints its base URL on stdout, then serves until killed).
import { createServer } from "node:http";

const script = [
  { tool: "Write", input: { file_path: "/workspace/hello.py", content: "print('hello from the agent')\n" } },
  { tool: "Bash", input: { command: "python3 hello.py", description: "Run hello.py" } },
  { text: "Done: hello.py prints a greeting." },
];

const server = createServer((req, res) => {
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", () => {
    if (req.method !== "POST" || !req.url.startsWith("/v1/messages") || req.url.includes("count_tokens")) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(req.url.includes("count_tokens") ? '{"input_tokens":10}' : "{}");
    }
    const json = JSON.parse(body);
    const hasTools = Array.isArray(json.tools) && json.tools.length > 0;
    const results = (json.messages || []).flatMap((m) => (Array.isArray(m.content) ? m.content : [])).filter((b) => b.type === "tool_result").length;
    const turn = hasTools ? script[Math.min(results, script.length - 1)] : { text: "Scripted side answer" };
    const model = json.model || "claude-scripted";
    const id = `toolu_scripted_${results}`;
    const content = turn.tool ? [{ type: "tool_use", id, name: turn.tool, input: turn.input }] : [{ type: "text", text: turn.text }];
    const stop = turn.tool ? "tool_use" : "end_turn";
    if (!json.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ id: "msg_scripted", type: "message", role: "assistant", model, content, stop_reason: stop, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 5 } }));
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "close" });
    const send = (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send("message_start", { type: "message_start", message: { id: "msg_scripted", type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } });
    if (turn.tool) {
      send("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "tool_use", id, name: turn.tool, input: {} } });
      send("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: JSON.stringify(turn.input) } });
    } else {
      send("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
      send("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: turn.text } });
    }
    send("content_block_stop", { type: "content_block_stop", index: 0 });
    send("message_delta", { type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } });
    send("message_stop", { type: "message_stop" });
    res.end();
  });
});
server.listen(0, process.argv[2], () => { console.log(`http://${process.argv[2]}:${server.address().port}`); });
