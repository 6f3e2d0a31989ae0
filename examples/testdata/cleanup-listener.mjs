// A listener written the way a custom-fields provider's guide writes its
// cleanup branch, with no fieldflow code: it reads the ids flat at the top
// of the body (body.fieldGroupId, body.fieldKey) and never looks inside the
// nested resource. It prints one JSON line per event it acted on.
import { createServer } from "node:http";

const port = Number(process.argv[2] || 3000);

createServer((req, res) => {
  let raw = "";
  req.on("data", (c) => (raw += c));
  req.on("end", () => {
    const body = JSON.parse(raw);
    switch (body.event) {
      case "field_group.deleted":
        // Drop everything stored locally for the group.
        console.log(JSON.stringify({ cleanup: "group", fieldGroupId: body.fieldGroupId }));
        break;
      case "global_field.deleted":
      case "tenant_field.deleted":
        console.log(JSON.stringify({ cleanup: "field", fieldId: body.fieldId, fieldKey: body.fieldKey, tenantId: body.tenantId ?? null }));
        break;
    }
    res.writeHead(200).end("ok");
  });
}).listen(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${port}`));
