// A webhook receiver for fieldflow in Node, with no framework. It checks
// each request twice: webhook-signature with the official Standard Webhooks
// library (npm: standardwebhooks), and X-Fieldflow-Signature with node's own
// crypto. Each verified event is printed as one JSON line.
//
//   cd examples/receiver-node && npm ci
//   FIELDFLOW_WEBHOOK_SECRET=whsec_… node server.mjs 3000
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import { Webhook } from "standardwebhooks";

const secret = process.env.FIELDFLOW_WEBHOOK_SECRET;
if (!secret) throw new Error("set FIELDFLOW_WEBHOOK_SECRET");
const port = Number(process.argv[2] || 3000);
const standard = new Webhook(secret);

// hexVerify checks X-Fieldflow-Signature: the lowercase hex HMAC-SHA256 of
// the raw body, keyed with the whole secret string (whsec_ included).
function hexVerify(body, header) {
  const want = createHmac("sha256", secret).update(body).digest();
  return (header || "").split(" ").some((sig) => {
    const got = Buffer.from(sig.replace(/^sha256=/, ""), "hex");
    return got.length === want.length && timingSafeEqual(got, want);
  });
}

createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    // Verify the body exactly as it arrived: never a re-serialized object.
    const body = Buffer.concat(chunks);
    let event;
    try {
      event = standard.verify(body.toString("utf8"), req.headers);
    } catch (err) {
      res.writeHead(401).end(String(err.message));
      return;
    }
    if (!hexVerify(body, req.headers["x-fieldflow-signature"])) {
      res.writeHead(401).end("bad X-Fieldflow-Signature");
      return;
    }
    console.log(JSON.stringify({ verified: event.eventId, event: event.event }));
    res.writeHead(204).end();
  });
}).listen(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${port}`));
