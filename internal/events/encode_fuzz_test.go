package events_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
)

// nodeStringifier is one Node.js process that answers, line by line, what
// JSON.stringify(JSON.parse(text)) prints for each text it is sent. One
// process per fuzz worker keeps the comparison with JavaScript exact for
// every fuzzed input at the cost of a pipe round trip, not a process start.
type nodeStringifier struct {
	in  io.WriteCloser
	out *bufio.Reader
}

func startNodeStringifier(f *testing.F) *nodeStringifier {
	f.Helper()
	node, err := exec.LookPath("node")
	require.NoError(f, err, "node (Node.js) must be on PATH: the fuzzer compares events.Encode with JSON.stringify")
	cmd := exec.Command(node, "-e", `
const rl = require("readline").createInterface({input: process.stdin});
rl.on("line", (line) => {
  let answer;
  try { answer = {out: JSON.stringify(JSON.parse(JSON.parse(line)))}; }
  catch (e) { answer = {err: String(e)}; }
  process.stdout.write(JSON.stringify(answer) + "\n");
});`)
	in, err := cmd.StdinPipe()
	require.NoError(f, err)
	out, err := cmd.StdoutPipe()
	require.NoError(f, err)
	require.NoError(f, cmd.Start())
	f.Cleanup(func() {
		_ = in.Close()
		_ = cmd.Wait()
	})
	return &nodeStringifier{in: in, out: bufio.NewReader(out)}
}

func (n *nodeStringifier) stringify(t *testing.T, text string) string {
	t.Helper()
	line, err := json.Marshal(text) // one line: newlines are escaped
	require.NoError(t, err)
	_, err = n.in.Write(append(line, '\n'))
	require.NoError(t, err)
	reply, err := n.out.ReadBytes('\n')
	require.NoError(t, err)
	var answer struct {
		Out *string `json:"out"`
		Err string  `json:"err"`
	}
	require.NoError(t, json.Unmarshal(reply, &answer), "%s", reply)
	require.Empty(t, answer.Err, "node cannot parse what Encode wrote: %s", text)
	require.NotNil(t, answer.Out, "node: %s", reply)
	return *answer.Out
}

// FuzzEncodeIsWhatJSONStringifyPrints decodes any JSON text as the API does
// and encodes it. The output must be valid UTF-8 JSON that holds the same
// value, must be its own encoding (a fixed point), and must be exactly
// what Node's JSON.stringify prints after JSON.parse of it — the promise a
// receiver that re-serializes before verifying a signature relies on.
func FuzzEncodeIsWhatJSONStringifyPrints(f *testing.F) {
	for _, in := range append(append([]string{}, encodeInputs...), unsortedInputs...) {
		f.Add(in)
	}
	node := startNodeStringifier(f)
	f.Fuzz(func(t *testing.T, text string) {
		var v any
		if json.Unmarshal([]byte(text), &v) != nil {
			return // not JSON: the API refuses it before anything is encoded
		}
		out, err := events.Encode(v)
		require.NoError(t, err, "Encode refused a decoded JSON value: %q", text)
		require.True(t, utf8.Valid(out), "Encode wrote invalid UTF-8: %q", out)

		var back any
		require.NoError(t, json.Unmarshal(out, &back), "Encode wrote invalid JSON: %q", out)
		require.True(t, reflect.DeepEqual(v, back), "Encode changed the value:\nin  %q\nout %q", text, out)

		again, err := events.Encode(back)
		require.NoError(t, err)
		require.Equal(t, string(out), string(again), "Encode is not a fixed point")

		require.Equal(t, node.stringify(t, string(out)), string(out), "JSON.stringify(JSON.parse(body)) !== body")
	})
}
