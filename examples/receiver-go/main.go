// Command receiver-go is a webhook receiver for fieldflow written with the
// verifier kit (github.com/fieldflow/fieldflow/webhookverify). It accepts
// only requests signed with FIELDFLOW_WEBHOOK_SECRET (and, during a
// rotation, FIELDFLOW_WEBHOOK_OLD_SECRET), and prints each verified event
// as one JSON line.
//
//	FIELDFLOW_WEBHOOK_SECRET=whsec_… go run ./examples/receiver-go --addr 127.0.0.1:3000
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/fieldflow/fieldflow/webhookverify"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	flag.Parse()
	secrets := []string{os.Getenv("FIELDFLOW_WEBHOOK_SECRET")}
	if old := os.Getenv("FIELDFLOW_WEBHOOK_OLD_SECRET"); old != "" {
		secrets = append(secrets, old)
	}
	v, err := webhookverify.New(secrets)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var event struct {
			Event   string `json:"event"`
			EventID string `json:"eventId"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		// Deliveries are at least once: a real receiver skips an eventId it
		// has already handled.
		line, _ := json.Marshal(map[string]string{"verified": event.EventID, "event": event.Event})
		fmt.Println(string(line))
		w.WriteHeader(http.StatusNoContent)
	})))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
