// Package examples holds runnable webhook receivers for fieldflow, one
// folder each (receiver-go with the webhookverify kit, receiver-node with
// the standardwebhooks npm package and node's crypto), and client-ts, a
// TypeScript client generated from the served OpenAPI document; its tests
// run each against a real server, and lint the document.
package examples
