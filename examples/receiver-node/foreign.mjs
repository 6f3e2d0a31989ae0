// A receiver as it is written for other products, which fieldflow must
// serve unchanged: no fieldflow library, the signature header compared as
// one whole string (header === expected), and the ids read flat from the
// body. SIGNATURE_FORM picks which form it expects, the endpoint's
// signatureFormat:
//
//   hex          <hex HMAC-SHA256 of the body>            (the default)
//   prefixed     sha256=<hex>                             (GitHub-style)
//   timestamped  t=<unix>,v1=<hex of HMAC over "t.body">  (Stripe-style)
//
//   FIELDFLOW_WEBHOOK_SECRET=whsec_… SIGNATURE_FORM=prefixed node foreign.mjs 3000
//
// With FIELDFLOW_PUBLIC_KEY=whpk_… (an endpoint with asymmetricSignature)
// it holds no secret and checks the "v1a" ed25519 entry of
// webhook-signature with node's crypto instead.
import { createServer } from "node:http";
import { createHmac, createPublicKey, verify } from "node:crypto";

const secret = process.env.FIELDFLOW_WEBHOOK_SECRET;
const publicKey = process.env.FIELDFLOW_PUBLIC_KEY;
if (!secret && !publicKey) throw new Error("set FIELDFLOW_WEBHOOK_SECRET or FIELDFLOW_PUBLIC_KEY");
const form = process.env.SIGNATURE_FORM || "hex";
const headerName = (process.env.SIGNATURE_HEADER || "X-Fieldflow-Signature").toLowerCase();
const port = Number(process.argv[2] || 3000);

const hmacHex = (msg) => createHmac("sha256", secret).update(msg).digest("hex");

// expected is the one header value this receiver accepts for body.
function expected(body, header) {
  switch (form) {
    case "hex":
      return hmacHex(body);
    case "prefixed":
      return "sha256=" + hmacHex(body);
    case "timestamped": {
      const t = /^t=(\d+),/.exec(header)?.[1];
      if (!t || Math.abs(Date.now() / 1000 - Number(t)) > 300) return null;
      return `t=${t},v1=` + hmacHex(`${t}.${body}`);
    }
    default:
      throw new Error(`unknown SIGNATURE_FORM ${form}`);
  }
}

// An ed25519 public key is its 32 bytes after a fixed SPKI prefix.
const spki = (whpk) =>
  createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(whpk.slice(5), "base64")]), format: "der", type: "spki" });

function verifiedByKey(body, headers) {
  const signed = Buffer.from(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`);
  if (Math.abs(Date.now() / 1000 - Number(headers["webhook-timestamp"])) > 300) return false;
  return (headers["webhook-signature"] || "").split(" ").some((e) =>
    e.startsWith("v1a,") && verify(null, signed, spki(publicKey), Buffer.from(e.slice(4), "base64")));
}

createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const header = req.headers[headerName];
    if (publicKey ? !verifiedByKey(body, req.headers) : header !== expected(body, header)) {
      console.log(JSON.stringify({ rejected: header ?? null }));
      res.writeHead(401).end("bad signature");
      return;
    }
    const event = JSON.parse(body);
    if (event.eventType) {
      // A client-portal product's shape, which the endpoint's bodyTemplate writes.
      console.log(JSON.stringify({ portal: event.eventType, id: event.data?.id, previous: event.previousAttributes }));
    } else if (event.event === "field_group.deleted") {
      // The cleanup branch reads the id where other products put it.
      console.log(JSON.stringify({ cleanup: event.fieldGroupId, event: event.event }));
    } else {
      console.log(JSON.stringify({ verified: event.eventId, event: event.event }));
    }
    res.writeHead(204).end();
  });
}).listen(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${port}`));
