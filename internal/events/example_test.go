package events_test

import (
	"encoding/json"
	"fmt"

	"github.com/fieldflow/fieldflow/internal/events"
)

// Encode prints what JavaScript's JSON.stringify prints: HTML characters
// stay literal, numbers take JavaScript's form, and integer-like keys come
// first in ascending order, as JavaScript objects list them.
func ExampleEncode() {
	var v any
	_ = json.Unmarshal([]byte(`{"note": "<b>A & B</b>", "10": "ten", "2": "two", "big": 1e21, "small": 0.0000001, "negZero": -0}`), &v)
	b, err := events.Encode(v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output: {"2":"two","10":"ten","big":1e+21,"negZero":0,"note":"<b>A & B</b>","small":1e-7}
}

// An Object keeps its members in the order given (a map's are sorted), so
// a payload can put event, eventId and timestamp first.
func ExampleObject() {
	b, _ := events.Encode(events.Object{
		{Key: "event", Value: "TASK_COMPLETED"},
		{Key: "data", Value: map[string]any{"taskId": "t-7", "status": "done"}},
	})
	fmt.Println(string(b))
	// Output: {"event":"TASK_COMPLETED","data":{"status":"done","taskId":"t-7"}}
}
