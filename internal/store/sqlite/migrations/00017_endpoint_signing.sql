-- +goose Up
-- How an endpoint signs and shapes what it sends. signature_format is the
-- form of the hex signature header (hex, prefixed "sha256=<hex>", or
-- timestamped "t=<unix>,v1=<hex>"). signing_key and prev_signing_key hold
-- an ed25519 private key, sealed with the master key, for "v1a" entries of
-- webhook-signature; empty when the endpoint signs with its secret only.
-- public_key is the newest key's public half as receivers get it
-- ("whpk_<base64>"); it is public, so it is kept in the clear. The
-- previous key signs beside the new one until prev_secret_until, as
-- the previous secret does. body_template is a JSON template the payload
-- is rendered through; empty sends the payload as it is.
ALTER TABLE webhook_endpoints ADD COLUMN signature_format TEXT NOT NULL DEFAULT 'hex';
ALTER TABLE webhook_endpoints ADD COLUMN signing_key TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN prev_signing_key TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN public_key TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN body_template TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN body_template;
ALTER TABLE webhook_endpoints DROP COLUMN public_key;
ALTER TABLE webhook_endpoints DROP COLUMN prev_signing_key;
ALTER TABLE webhook_endpoints DROP COLUMN signing_key;
ALTER TABLE webhook_endpoints DROP COLUMN signature_format;
