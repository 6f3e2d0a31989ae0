package secretbox_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/fieldflow/fieldflow/internal/secretbox"
)

// A Box seals a secret for storage and opens it again; a value sealed
// with another key, or altered, does not open.
func ExampleBox() {
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32)) // the master key: 32 bytes
	if err != nil {
		fmt.Println(err)
		return
	}
	sealed := box.Seal("xoxb-slack-token")
	fmt.Println(strings.HasPrefix(sealed, "v1:"), strings.Contains(sealed, "xoxb"))

	plain, err := box.Open(sealed)
	fmt.Println(plain, err)

	other, _ := secretbox.New(bytes.Repeat([]byte{8}, 32))
	_, err = other.Open(sealed)
	fmt.Println(errors.Is(err, secretbox.ErrOpen))
	// Output:
	// true false
	// xoxb-slack-token <nil>
	// true
}
