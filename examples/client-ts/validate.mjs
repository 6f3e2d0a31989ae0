// validate.mjs resolves every $ref of the document and validates it against
// the OpenAPI schema with swagger-parser. Usage: node validate.mjs openapi.json
import SwaggerParser from "@apidevtools/swagger-parser";

try {
  const api = await SwaggerParser.validate(process.argv[2]);
  console.log(JSON.stringify({ valid: true, paths: Object.keys(api.paths).length, webhooks: Object.keys(api.webhooks ?? {}).length }));
} catch (err) {
  console.error(`swagger-parser: ${err.message}`);
  process.exit(1);
}
